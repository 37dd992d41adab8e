"""Self-supervised contrastive loss on augmented views (SimCLR's NT-Xent), differentiable in the images.

Used twice: to train a contrastive head F on a classifier's backbone, and at test time as the
objective the adversarial defense lowers (Mao et al., ICCV 2021): an attacked image's augmented
views disagree, and a reversal vector r that makes them agree again undoes much of the attack.
Augmentations are random affine warps plus noise done with ``grid_sample``, so gradients flow to
the pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True, kw_only=True)
class AugmentConfig:
    """Random affine warp per view: shift (fraction of the image), rotation (radians), scale range, noise std."""

    max_shift: float = 0.1
    max_rotation: float = 0.2
    min_scale: float = 0.9
    max_scale: float = 1.1
    noise: float = 0.0

    def __post_init__(self) -> None:
        if not (0 < self.min_scale <= self.max_scale) or self.max_shift < 0 or self.noise < 0:
            raise ValueError("AugmentConfig needs 0 < min_scale <= max_scale and non-negative shift and noise")


def augment(
    images: Tensor, *, config: AugmentConfig | None = None, generator: torch.Generator, shared: bool = False
) -> Tensor:
    """One random view of each image: ``B x C x H x W`` -> ``B x C x H x W`` (differentiable in ``images``).

    ``shared=True`` draws one warp (and one noise image) for the whole batch, so an image's view
    does not depend on how many other images are in the batch or where it sits.
    """
    config = config or AugmentConfig()
    count = 1 if shared else images.shape[0]

    def uniform(low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(count, generator=generator)

    angle = uniform(-config.max_rotation, config.max_rotation)
    scale = uniform(config.min_scale, config.max_scale)
    shift = torch.stack([uniform(-config.max_shift, config.max_shift) for _ in range(2)], dim=1) * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], dim=1)
    theta = torch.cat([theta, shift.unsqueeze(2)], dim=2).to(images).expand(images.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    views = F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")
    if config.noise > 0:
        views = views + config.noise * torch.randn((count, *views.shape[1:]), generator=generator).to(views)
    return views


def nt_xent(embeddings: Tensor, temperature: float = 0.2) -> Tensor:
    """Per-image NT-Xent loss of ``V x B x D`` embeddings (V >= 2 views of B images) -> ``B``.

    Each view's positives are the other views of its image; every other view in the batch is a
    negative. Lower means the views of each image agree more than views of different images.
    """
    views, count, _ = embeddings.shape
    if views < 2:
        raise ValueError(f"nt_xent needs at least 2 views, got {views}")
    flat = F.normalize(embeddings.reshape(views * count, -1), dim=1)
    logits = flat @ flat.T / temperature
    eye = torch.eye(views * count, dtype=torch.bool, device=flat.device)
    log_prob = logits - torch.logsumexp(logits.masked_fill(eye, -math.inf), dim=1, keepdim=True)
    image_of = torch.arange(views * count, device=flat.device) % count
    positive = (image_of[:, None] == image_of[None, :]) & ~eye
    per_view = -(log_prob * positive).sum(1) / (views - 1)
    return per_view.view(views, count).mean(0)


def bank_nt_xent(embeddings: Tensor, bank: Tensor, temperature: float = 0.2) -> Tensor:
    """Per-image NT-Xent of ``V x B x D`` embeddings against a fixed ``K x D`` bank of negatives -> ``B``.

    Each view's positives are the other views of its image; its negatives are the bank only (never
    another image of the batch), so each image's loss depends on that image alone.
    """
    views = embeddings.shape[0]
    if views < 2:
        raise ValueError(f"bank_nt_xent needs at least 2 views, got {views}")
    flat = F.normalize(embeddings, dim=2)
    positive = torch.einsum("vbd,wbd->bvw", flat, flat) / temperature
    negative = torch.einsum("vbd,kd->bvk", flat, F.normalize(bank.to(flat), dim=1)) / temperature
    eye = torch.eye(views, dtype=torch.bool, device=flat.device)
    others = torch.cat([positive.masked_fill(eye, -math.inf), negative], dim=2)
    log_prob = positive - torch.logsumexp(others, dim=2, keepdim=True)
    return -(log_prob.masked_fill(eye, 0).sum(2) / (views - 1)).mean(1)


class ContrastiveLoss(nn.Module):
    """``images -> per-image NT-Xent`` of ``views`` random augmentations, embedded by ``embed``.

    embed: ``N x C x H x W`` -> ``N x D`` (the contrastive head on the classifier's backbone).
    Call with ``B x C x H x W`` images or flat ``B x (C*H*W)`` ones (reshaped to ``image_shape``);
    returns ``B`` losses. The augmentations come from the module's own seeded generator.
    With a ``bank`` (``K x D`` embeddings of clean images) the negatives are the bank and the warps
    are shared by the batch, so each image's loss does not depend on the rest of the batch.
    """

    def __init__(
        self,
        embed: nn.Module,
        *,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        views: int = 2,
        temperature: float = 0.2,
        augment_config: AugmentConfig | None = None,
        seed: int = 0,
        bank: Tensor | None = None,
    ):
        super().__init__()
        self.register_buffer("bank", None if bank is None else bank.detach().clone())
        self.embed = embed
        self.image_shape = tuple(image_shape)
        self.views = views
        self.temperature = temperature
        self.augment_config = augment_config or AugmentConfig()
        self.generator = torch.Generator().manual_seed(seed)

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def forward(self, images: Tensor) -> Tensor:
        images = images.reshape(-1, *self.image_shape)
        shared = self.bank is not None
        stacked = torch.cat(
            [
                augment(images, config=self.augment_config, generator=self.generator, shared=shared)
                for _ in range(self.views)
            ]
        )
        embeddings = self.embed(stacked).view(self.views, images.shape[0], -1)
        if shared:
            return bank_nt_xent(embeddings, self.bank, self.temperature)
        return nt_xent(embeddings, self.temperature)


def embed_bank(
    embed: nn.Module, images: Tensor, *, augment_config: AugmentConfig | None = None, seed: int = 0, batch: int = 256
) -> Tensor:
    """A bank of negatives: one augmented view of each clean image ``K x C x H x W``, embedded -> ``K x D``."""
    generator = torch.Generator().manual_seed(seed)
    parts = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            parts.append(embed(augment(images[start : start + batch], config=augment_config, generator=generator)))
    return F.normalize(torch.cat(parts), dim=1)


def squeeze(images: Tensor, temperature: float) -> Tensor:
    """A soft 1-bit squeeze ``σ((x − ½) / t)`` of images in [0, 1] (differentiable; t → 0 is thresholding)."""
    return torch.sigmoid((images - 0.5) / temperature)


class SqueezeAgreement(nn.Module):
    """``images -> per-image 1 − cos(h(x), h(s(x)))``: how much the head disagrees with itself on a squeezed view.

    The positive pair of a contrastive loss, with the view chosen to undo small perturbations: ``s``
    is a soft 1-bit squeeze (feature squeezing, Xu et al., NDSS 2018). A clean digit and its squeeze
    embed alike; an attacked one does not, since squeezing wipes most of the attack out. Deterministic,
    and each image's loss depends on that image alone. Takes ``B x C x H x W`` or flat ``B x (C*H*W)``.
    """

    def __init__(self, embed: nn.Module, *, image_shape: tuple[int, int, int] = (1, 28, 28), temperature: float = 0.1):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"squeeze temperature must be positive, got {temperature}")
        self.embed = embed
        self.image_shape = tuple(image_shape)
        self.temperature = temperature

    def forward(self, images: Tensor) -> Tensor:
        images = images.reshape(-1, *self.image_shape)
        embeddings = self.embed(torch.cat([images, squeeze(images, self.temperature)]))
        own, squeezed = F.normalize(embeddings, dim=1).chunk(2)
        return 1 - (own * squeezed).sum(1)
