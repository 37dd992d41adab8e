"""The embedded face model ``faces64``: a 64×64 RGB generator, latent 128.

The shipped generator is a GAN (``python -m engines.train generator --kind gan``, see
engines/gan.py); ``--kind vae`` trains the same network as a VAE decoder instead. Both
train on CelebA faces 1–8000; faces 8001–9000 are the held-out test split.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from engines.core.mapping import MappingNetwork, load_mapping_file
from engines.io.checkpoint import load_module_state, load_tensors, resolve_asset, save_module
from engines.io.images import prepare_image
from engines.models.registry import ForwardModel

logger = logging.getLogger(__name__)

CELEBA_TRAIN = slice(0, 8000)  # files 000001..008000 in sorted order
CELEBA_TEST = slice(8000, 9000)  # files 008001..009000: never trained on


@dataclass(frozen=True, kw_only=True)
class FaceNetConfig:
    """Architecture of the face generator (and VAE encoder); ``channels`` run from the 4×4 base to full resolution."""

    latent_dim: int = 128
    image_size: int = 64
    channels: tuple[int, ...] = (256, 128, 64, 32, 16)
    norm: str = "none"  # "pixel": PixelNorm after every upsampling (the GAN generator)

    def __post_init__(self) -> None:
        if self.image_size != 4 * 2 ** (len(self.channels) - 1):
            raise ValueError(
                f"image_size {self.image_size} needs {len(self.channels)} = log2(size/4)+1 channel entries"
            )
        if self.latent_dim < 1:
            raise ValueError("latent_dim must be >= 1")
        if self.norm not in ("none", "pixel"):
            raise ValueError(f"norm must be 'none' or 'pixel', got {self.norm!r}")

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, data: dict) -> FaceNetConfig:
        return cls(**{**data, "channels": tuple(data["channels"])})


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit RMS (ProGAN); no batch statistics."""

    def forward(self, features: Tensor) -> Tensor:
        return features * torch.rsqrt(features.square().mean(dim=1, keepdim=True) + 1e-8)


class FaceDecoder(nn.Module):
    """``B x latent_dim`` -> ``B x 3 x size x size`` in [-1, 1]."""

    def __init__(self, config: FaceNetConfig):
        super().__init__()
        first, *rest = config.channels
        self.base = nn.Linear(config.latent_dim, first * 16)
        layers: list[nn.Module] = []
        width = first
        for out_width in rest:
            layers += [nn.LeakyReLU(0.2), nn.ConvTranspose2d(width, out_width, 4, stride=2, padding=1)]
            if config.norm == "pixel":
                layers.append(PixelNorm())
            width = out_width
        layers += [nn.LeakyReLU(0.2), nn.Conv2d(width, 3, 3, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        self.first = first

    def forward(self, latent: Tensor) -> Tensor:
        return self.body(self.base(latent).view(-1, self.first, 4, 4))


class FaceEncoder(nn.Module):
    """``B x 3 x size x size`` -> (mean, log-variance), each ``B x latent_dim``."""

    def __init__(self, config: FaceNetConfig):
        super().__init__()
        widths = list(reversed(config.channels))
        layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 3, padding=1)]
        for width, out_width in zip(widths[:-1], widths[1:]):
            layers += [nn.LeakyReLU(0.2), nn.Conv2d(width, out_width, 4, stride=2, padding=1)]
        layers += [nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(widths[-1] * 16, 2 * config.latent_dim)]
        self.body = nn.Sequential(*layers)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = self.body(image).chunk(2, dim=1)
        return mean, log_var.clamp(-12, 6)


class FaceGenerator(ForwardModel):
    """F for faces: latent ``B x 128`` -> image ``B x 3 x 64 x 64`` in [-1, 1]."""

    output_kind = "image"
    face_crop = "celeba"

    def __init__(self, config: FaceNetConfig):
        super().__init__()
        self.config = config
        self.decoder = FaceDecoder(config)
        self.input_dim = config.latent_dim
        self.output_shape = (3, config.image_size, config.image_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(x)

    def prepare_target(self, source: Any) -> tuple[Tensor, str]:
        prepared = prepare_image(source, self.config.image_size)
        return prepared.tensor, prepared.notice


@dataclass(frozen=True, kw_only=True)
class VAETrainConfig:
    epochs: int = 12
    batch_size: int = 64
    lr: float = 2e-3
    kl_weight: float = 0.04  # 2σ² of the Gaussian likelihood on [-1, 1] pixels
    seed: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def train_vae(
    images: Tensor, model_config: FaceNetConfig, train_config: VAETrainConfig, *, device: torch.device | str = "cpu"
) -> Iterator[dict]:
    """Train a VAE on ``N x 3 x H x W`` images in [-1, 1] on ``device``; yields a dict per epoch.

    The last yielded dict holds ``decoder`` (the trained FaceDecoder). Random draws stay on the CPU,
    so a CPU run is the same whatever the device default.
    """
    torch.manual_seed(train_config.seed)
    encoder, decoder = FaceEncoder(model_config).to(device), FaceDecoder(model_config).to(device)
    parameters = list(encoder.parameters()) + list(decoder.parameters())
    optimizer = torch.optim.Adam(parameters, lr=train_config.lr)
    total_steps = train_config.epochs * (len(images) // train_config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=train_config.lr, total_steps=total_steps)
    for epoch in range(train_config.epochs):
        order = torch.randperm(len(images))
        sums = {"reconstruction": 0.0, "kl": 0.0}
        batches = len(images) // train_config.batch_size
        for batch_index in range(batches):
            batch = images[order[batch_index * train_config.batch_size : (batch_index + 1) * train_config.batch_size]]
            flip = torch.rand(len(batch)) < 0.5
            batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch).to(device)
            mean, log_var = encoder(batch)
            latent = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
            reconstruction = (decoder(latent) - batch).square().flatten(1).sum(1).mean()
            kl = 0.5 * (mean.square() + log_var.exp() - 1 - log_var).sum(1).mean()
            loss = reconstruction + train_config.kl_weight * kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            sums["reconstruction"] += reconstruction.item() / batches
            sums["kl"] += kl.item() / batches
        yield {"epoch": epoch + 1, **sums, "decoder": decoder}


def save_generator(path: Path, decoder: FaceDecoder, config: FaceNetConfig, extra: dict) -> None:
    save_module(path, decoder, {"kind": "faces64-generator", "model": config.to_dict(), **extra})


def load_generator(path: Path | None = None) -> FaceGenerator:
    path = path or resolve_asset("faces64_generator")
    tensors, meta = load_tensors(path)
    model = FaceGenerator(FaceNetConfig.from_dict(meta["model"]))
    load_module_state(model.decoder, tensors, path)
    return model


def load_face_mapping(path: Path | None = None) -> MappingNetwork:
    return load_mapping_file(path or resolve_asset("faces64_mapping"))
