"""A feed-forward encoder for ``faces64``: E(image) -> generator input x, trained so that G(E(y)) ≈ y.

The baseline of the landscape-learning paper's Fig. 4 (a flat line: one forward pass, no steps) and
Fig. 8. Trained on CelebA 1–8000 with the generator frozen (``python -m engines.train encoder``);
faces 8001–9000 stay held out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from engines.io.checkpoint import load_module_state, load_tensors, resolve_asset, save_module

ASSET = "faces64_encoder"


@dataclass(frozen=True, kw_only=True)
class EncoderConfig:
    """Shape of E: stride-2 convolution stages of ``channels`` widths, then a linear layer to ``latent_dim``."""

    latent_dim: int = 128
    image_size: int = 64
    channels: tuple[int, ...] = (32, 64, 128, 256)

    def __post_init__(self) -> None:
        if self.latent_dim < 1 or not self.channels or self.image_size % 2 ** len(self.channels):
            raise ValueError(f"image_size {self.image_size} must be divisible by 2**{len(self.channels)}")

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, data: dict) -> EncoderConfig:
        return cls(**{**data, "channels": tuple(data["channels"])})


class FaceLatentEncoder(nn.Module):
    """E: ``B x 3 x S x S`` images in [-1, 1] -> ``B x latent_dim`` generator inputs."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = 3
        for out_width in config.channels:
            layers += [nn.Conv2d(width, out_width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            width = out_width
        side = config.image_size // 2 ** len(config.channels)
        layers += [nn.Flatten(), nn.Linear(width * side * side, config.latent_dim)]
        self.body = nn.Sequential(*layers)

    def forward(self, image: Tensor) -> Tensor:
        return self.body(image)


@dataclass(frozen=True, kw_only=True)
class EncoderTrainConfig:
    """Adam on the reconstruction objective ``loss(G(E(y)), y)`` (per-image losses averaged)."""

    epochs: int = 4
    batch_size: int = 64
    lr: float = 1e-3
    loss: str = "mse+lpips"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError("epochs and batch_size must be >= 1 and lr positive")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def train_encoder(
    generator: nn.Module,
    images: Tensor,
    encoder: FaceLatentEncoder,
    config: EncoderTrainConfig,
    loss_fn: Callable[[Tensor, Tensor, Tensor | None], Tensor],
) -> Iterator[dict]:
    """Train ``encoder`` in place on ``N x 3 x S x S`` images with ``generator`` frozen; a dict per epoch.

    Runs on the generator's device; random draws stay on the CPU (seeded by ``config.seed``), and
    images are flipped left-right at random.
    """
    device = next(generator.parameters()).device
    generator.requires_grad_(False)
    encoder.to(device).train()
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.lr)
    batches = len(images) // config.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.epochs * batches)
    random = torch.Generator().manual_seed(config.seed)
    for epoch in range(config.epochs):
        order = torch.randperm(len(images), generator=random)
        total = 0.0
        for index in range(batches):
            batch = images[order[index * config.batch_size : (index + 1) * config.batch_size]]
            flip = torch.rand(len(batch), generator=random) < 0.5
            batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch).to(device)
            loss = loss_fn(generator(encoder(batch)), batch, None).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        yield {"epoch": epoch + 1, "loss": total / max(batches, 1), "encoder": encoder}
    encoder.eval()


def save_encoder(path: Path, encoder: FaceLatentEncoder, extra: dict) -> None:
    save_module(path, encoder, {"kind": "faces64-encoder", "encoder": encoder.config.to_dict(), **extra})


def load_face_encoder(path: Path | None = None) -> FaceLatentEncoder:
    """The shipped encoder (``assets/faces64_encoder.safetensors``), or the one at ``path``."""
    path = path or resolve_asset(ASSET)
    tensors, meta = load_tensors(path)
    if "encoder" not in meta:
        raise ValueError(f"{path} is not an encoder checkpoint: its .json has no 'encoder' section")
    return load_module_state(FaceLatentEncoder(EncoderConfig.from_dict(meta["encoder"])), tensors, path)
