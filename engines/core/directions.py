"""Latent directions for edits: steerable walks (Jahanian et al., ICLR 2020) and GANSpace (Härkönen et al., 2020).

Steerability: a linear walk ``w`` is fitted so that ``G(x + α·w)`` matches ``edit(G(x), α)`` (an image shift or
zoom of the generation itself) over random samples x and random α, G frozen:
``w* = argmin_w E_{x,α} ‖G(x + α·w) − edit(G(x), α)‖²``. No real images are used.

GANSpace: PCA of an early feature map over random samples; each sample's coordinates on the first components
are regressed back to its latent (``x ≈ U·coords``, least squares), and U's columns, unit length, are the
directions, ordered by the variance they explain.

Directions act on the generator's input x (z in X-space, mapping(z) in Z-space). Pure functions of tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EDITS = ("shift_x", "shift_y", "zoom")
SHIFT_PIXELS = 4.0  # α = 1 shifts the image by this many pixels (of 28)
ZOOM_FACTOR = 1.4  # α = 1 zooms in by this factor, α = -1 out by it


def edit_images(images: Tensor, kind: str, alpha: Tensor) -> Tensor:
    """``B x C x H x W`` images in [-1, 1] shifted / zoomed by ``alpha`` (``B``), black (-1) where nothing
    comes in. shift_x / shift_y: ``α·SHIFT_PIXELS`` pixels right / down; zoom: ``ZOOM_FACTOR**α`` about the centre."""
    batch, _, height, width = images.shape
    theta = torch.zeros(batch, 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    if kind == "shift_x":
        theta[:, 0, 2] = -alpha * SHIFT_PIXELS * 2 / width
    elif kind == "shift_y":
        theta[:, 1, 2] = -alpha * SHIFT_PIXELS * 2 / height
    elif kind == "zoom":
        theta[:, 0, 0] = theta[:, 1, 1] = ZOOM_FACTOR ** (-alpha)
    else:
        raise ValueError(f"unknown edit {kind!r}; choose from {EDITS}")
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1


@dataclass(frozen=True)
class SteerFit:
    """A fitted walk: ``direction`` ``D``; ``losses``: the mean squared error per step; ``start_loss``: the error
    of doing nothing (w = 0) on the same samples, the control the walk must beat."""

    direction: Tensor
    losses: list[float]
    start_loss: float


def fit_steerable_direction(
    render: Callable[[Tensor, Tensor], Tensor],
    sample: Callable[[int, torch.Generator], tuple[Tensor, Tensor]],
    kind: str,
    *,
    dim: int,
    steps: int = 400,
    batch: int = 64,
    lr: float = 0.05,
    seed: int = 0,
) -> SteerFit:
    """Fit ``w`` (``D``) for one edit ``kind`` (:data:`EDITS`), α uniform in [-1, 1].

    render(x, condition) -> images: the frozen generator; sample(n, rng) -> (x ``n x D``, condition ``n x ...``,
    e.g. class embeddings, or an empty tensor) draws random inputs.
    """
    rng = torch.Generator().manual_seed(seed)
    direction = torch.zeros(dim, requires_grad=True)
    solver = torch.optim.Adam([direction], lr=lr)
    losses, start_loss = [], None
    for _ in range(steps):
        x, condition = sample(batch, rng)
        alpha = torch.rand(batch, generator=rng) * 2 - 1
        with torch.no_grad():
            wanted = edit_images(render(x, condition), kind, alpha)
            if start_loss is None:
                start_loss = float((render(x, condition) - wanted).square().mean())
        loss = (render(x + alpha[:, None] * direction, condition) - wanted).square().mean()
        solver.zero_grad(set_to_none=True)
        loss.backward()
        solver.step()
        losses.append(float(loss.detach()))
    return SteerFit(direction.detach().clone(), losses, float(start_loss))


def ganspace_directions(
    features: Callable[[Tensor], Tensor], latents: Tensor, *, components: int = 10
) -> tuple[Tensor, Tensor]:
    """GANSpace directions: (``components x D`` unit directions, ``components`` explained variance shares).

    features(x) -> ``N x F``: an early feature map, flattened; latents: ``N x D`` random generator inputs.
    """
    with torch.no_grad():
        values = features(latents).flatten(1).double()
    mean = values.mean(0, keepdim=True)
    centred = values - mean
    _, singular, basis = torch.linalg.svd(centred, full_matrices=False)  # rows of ``basis``: components
    coords = centred @ basis[:components].T  # N x K
    mapping = torch.linalg.lstsq(coords, latents.double() - latents.double().mean(0, keepdim=True)).solution  # K x D
    directions = mapping / mapping.norm(dim=1, keepdim=True).clamp_min(1e-12)
    share = singular.square() / singular.square().sum()
    return directions.float(), share[:components].float()


def change_consistency(generator: nn.Module, latents: Tensor, direction: Tensor, amount: float) -> float:
    """Mean pairwise cosine similarity of the image changes ``G(x + amount·d) − G(x)`` over ``N x D`` latents."""
    with torch.no_grad():
        change = (generator(latents + amount * direction.to(latents)) - generator(latents)).flatten(1)
    unit = change / change.norm(dim=1, keepdim=True).clamp_min(1e-12)
    cosine = unit @ unit.T
    count = len(unit)
    return float((cosine.sum() - cosine.diagonal().sum()) / (count * (count - 1)))
