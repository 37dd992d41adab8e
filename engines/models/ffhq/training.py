"""Fitting the fast models' image heads on renders of the full network (see :mod:`engines.models.ffhq.fast`).

1. **Start.** The student block starts from the teacher's next block, pruned to its most useful channels
   (:func:`init_student`); with the modulation at 1 the head is linear in its features, and starts at the
   least-squares solution from them to the target's Haar bands (:func:`least_squares_head`).
2. **Distil.** Adam fits student and head on image MSE + LPIPS, on the trunk's cached features (:func:`distil`).

A linear head alone on the teacher's 32² features agrees poorly (about 21 dB PSNR on held-out styles: the later
blocks change colour and contrast with w), hence the trained student.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from engines.io.checkpoint import load_tensors
from engines.models.ffhq.fast import FastFace
from engines.models.ffhq.network import haar_forward

logger = logging.getLogger(__name__)


def load_renders(folder: Path, key: str, *, limit: int | None = None) -> tuple[Tensor, Tensor]:
    """Styles ``N x 512`` and images ``N x 3 x S x S`` (``key`` ``image64`` or ``image128``) from the chunks
    written by ``python -m engines.train ffhq-renders``, in chunk order, at most ``limit``."""
    chunks = sorted(Path(folder).glob("chunk_*.safetensors"))
    if not chunks:
        raise FileNotFoundError(f"no render chunks in {folder}: make them with python -m engines.train ffhq-renders")
    styles, images = [], []
    for chunk in chunks:
        tensors, _ = load_tensors(chunk)
        styles.append(tensors["w"].float())
        images.append(tensors[key].float())
        if limit is not None and sum(len(part) for part in styles) >= limit:
            break
    w, image = torch.cat(styles), torch.cat(images)
    return (w[:limit], image[:limit]) if limit is not None else (w, image)


@torch.no_grad()
def cached_features(model: FastFace, w: Tensor, *, batch: int = 16) -> Tensor:
    """The teacher trunk's features of every style, float16 on the CPU: ``N x C x R x R``."""
    parts = [
        model.synthesis.features(w[start : start + batch], model.config.blocks).half()
        for start in range(0, len(w), batch)
    ]
    return torch.cat(parts)


def _least_squares(features: Tensor, images: Tensor, *, ridge: float = 1e-3) -> Tensor:
    """``(C + 1) x 12``: the bias-augmented least-squares map from feature pixels to the target's Haar bands."""
    channels = features.shape[1]
    gram = torch.zeros(channels + 1, channels + 1, dtype=torch.float64)
    cross = torch.zeros(channels + 1, 12, dtype=torch.float64)
    for start in range(0, len(features), 16):
        x = features[start : start + 16].float()
        x = torch.cat([x, torch.ones_like(x[:, :1])], dim=1).permute(0, 2, 3, 1).reshape(-1, channels + 1).double()
        y = haar_forward(images[start : start + 16]).permute(0, 2, 3, 1).reshape(-1, 12).double()
        gram += x.T @ x
        cross += x.T @ y
    gram += ridge * torch.eye(channels + 1, dtype=torch.float64) * gram.diagonal().mean()
    return torch.linalg.solve(gram, cross).float()


@torch.no_grad()
def head_inputs(model: FastFace, w: Tensor, trunk: Tensor, *, batch: int = 16) -> Tensor:
    return torch.cat(
        [
            model.head_features(trunk[start : start + batch].float(), w[start : start + batch])
            for start in range(0, len(w), batch)
        ]
    )


@torch.no_grad()
def least_squares_head(model: FastFace, w: Tensor, trunk: Tensor, images: Tensor) -> None:
    """Set the head's centre tap and bias to the least-squares fit of the target's Haar bands (modulation 1)."""
    solution = _least_squares(head_inputs(model, w, trunk), images)
    channels = solution.shape[0] - 1
    head = model.head
    head.modulation.weight.zero_()
    head.modulation.bias.fill_(1.0)
    head.weight.zero_()
    centre = head.kernel // 2
    head.weight[:, :, centre, centre] = solution[:channels].T
    head.bias.copy_(solution[channels].reshape(1, 12, 1, 1))


@torch.no_grad()
def init_student(model: FastFace, w: Tensor, trunk: Tensor, images: Tensor) -> dict[str, list[int]]:
    """Start the student block from the teacher's next block, keeping its ``config.student`` most useful
    channels: conv2's outputs by (spread × the norm of their least-squares head weights), conv1's outputs by
    (spread × the norm of what conv2 does with them). Returns the kept channel indices."""
    teacher = model.synthesis.blocks[model.config.blocks]
    keep = model.config.student
    hidden = teacher.conv1(_upsampled(teacher, trunk, w), w)
    output = teacher.conv2(hidden, w)
    head = _least_squares(output, images)[:-1]  # C x 12
    second = output.std(dim=(0, 2, 3)) * head.norm(dim=1)
    conv2 = teacher.conv2
    through = (
        conv2.modulation(w).abs().mean(0)
        * conv2.depthwise.flatten(1).norm(dim=1)
        * conv2.pointwise.flatten(1).norm(dim=0)
    )
    first = hidden.std(dim=(0, 2, 3)) * through
    outputs, inputs = second.topk(keep).indices.sort().values, first.topk(keep).indices.sort().values
    student = model.student
    student.up.load_state_dict(teacher.up.state_dict())
    student.conv1.modulation.load_state_dict(teacher.conv1.modulation.state_dict())
    student.conv1.depthwise.copy_(teacher.conv1.depthwise)
    student.conv1.pointwise.copy_(teacher.conv1.pointwise[inputs])
    student.conv1.noise.copy_(teacher.conv1.noise)
    student.conv1.bias.copy_(teacher.conv1.bias[:, inputs])
    student.conv2.modulation.weight.copy_(conv2.modulation.weight[inputs])
    student.conv2.modulation.bias.copy_(conv2.modulation.bias[inputs])
    student.conv2.depthwise.copy_(conv2.depthwise[inputs])
    student.conv2.pointwise.copy_(conv2.pointwise[outputs][:, inputs])
    student.conv2.noise.copy_(conv2.noise)
    student.conv2.bias.copy_(conv2.bias[:, outputs])
    return {"conv1": inputs.tolist(), "conv2": outputs.tolist()}


def _upsampled(block, trunk: Tensor, w: Tensor) -> Tensor:
    from engines.models.ffhq.network import haar_inverse

    return haar_inverse(trunk.float() * block.up(w)[:, :, None, None])


@dataclass(frozen=True, kw_only=True)
class DistilConfig:
    epochs: int = 20
    batch_size: int = 16
    lr: float = 3e-4
    lpips_weight: float = 0.1
    seed: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def distil(
    model: FastFace,
    w: Tensor,
    trunk: Tensor,
    images: Tensor,
    config: DistilConfig,
    *,
    start_epoch: int = 0,
    restore: Callable[[torch.optim.Optimizer], None] | None = None,
) -> Iterator[dict]:
    """Adam on the student and head (the trunk stays frozen) for image MSE + ``lpips_weight`` × LPIPS
    against the full network's downsamples; yields ``{"epoch", "loss", "optimizer"}`` after each epoch
    (the optimizer itself, for a checkpoint). ``restore`` loads a resumed run's Adam state into it."""
    from engines.core.losses import lpips_network

    network = lpips_network()
    trained = [p for name, p in model.named_parameters() if not name.startswith("synthesis.")]
    for parameter in trained:
        parameter.requires_grad_(True)
    optimizer = torch.optim.Adam(trained, lr=config.lr)
    if restore is not None:
        restore(optimizer)
    batches = len(w) // config.batch_size
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step / max(config.epochs * batches, 1), 1.0)))
    )
    for _ in range(start_epoch * batches):
        schedule.step()
    for epoch in range(start_epoch, config.epochs):
        order = torch.randperm(len(w), generator=torch.Generator().manual_seed(config.seed + epoch))
        total = 0.0
        for index in range(batches):
            rows = order[index * config.batch_size : (index + 1) * config.batch_size]
            output = model.head(model.head_features(trunk[rows].float(), w[rows]), w[rows])
            loss = F.mse_loss(output, images[rows])
            if network is not None and config.lpips_weight:
                loss = loss + config.lpips_weight * network(output, images[rows], normalize=False).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trained, 1.0)
            optimizer.step()
            schedule.step()
            total += loss.item() / batches
        yield {"epoch": epoch + 1, "loss": total, "optimizer": optimizer}
    for parameter in trained:
        parameter.requires_grad_(False)


@torch.no_grad()
def agreement(model: FastFace, w: Tensor, images: Tensor, *, batch: int = 16) -> dict[str, float]:
    """Mean and spread of PSNR (dB) and LPIPS of the fast model's images against the full network's
    downsamples ``images`` (``N x 3 x S x S``) of the same styles."""
    from engines.core.losses import lpips_network
    from engines.models.ffhq.weights import psnr

    network = lpips_network()
    psnrs, distances = [], []
    for start in range(0, len(w), batch):
        output = model(w[start : start + batch])
        target = images[start : start + batch]
        psnrs.append(psnr(output, target))
        if network is not None:
            distances.append(network(output.clamp(-1, 1), target.clamp(-1, 1), normalize=False).flatten(1).mean(1))
    values = torch.cat(psnrs)
    result = {
        "n": len(values),
        "psnr_mean": float(values.mean()),
        "psnr_std": float(values.std()),
        "psnr_min": float(values.min()),
    }
    if distances:
        lpips = torch.cat(distances)
        result |= {"lpips_mean": float(lpips.mean()), "lpips_std": float(lpips.std())}
    return result
