"""Training the faces64 generator as a GAN (hinge loss, spectral-norm discriminator, EMA generator).

A GAN generator is the forward model the landscape-learning paper inverts (StyleGAN,
BigGAN); unlike a VAE decoder, whose training noise smooths its latent landscape,
its inversion landscape is rugged, which is what Θ is meant to fix.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from engines.models.faces.model import FaceDecoder, FaceNetConfig


@dataclass(frozen=True, kw_only=True)
class GANTrainConfig:
    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-4
    ema_decay: float = 0.999
    seed: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class Discriminator(nn.Module):
    """``B x 3 x size x size`` -> ``B`` realness scores (spectral-normalised convolutions)."""

    def __init__(self, config: FaceNetConfig):
        super().__init__()
        widths = list(reversed(config.channels))
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(3, widths[0], 3, padding=1)), nn.LeakyReLU(0.2)]
        for width, out_width in zip(widths[:-1], widths[1:]):
            layers += [spectral_norm(nn.Conv2d(width, out_width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
        layers += [nn.Flatten(), spectral_norm(nn.Linear(widths[-1] * 16, 1))]
        self.body = nn.Sequential(*layers)

    def forward(self, image: Tensor) -> Tensor:
        return self.body(image).squeeze(1)


def train_gan(
    images: Tensor, model_config: FaceNetConfig, train_config: GANTrainConfig, *, device: torch.device | str = "cpu"
) -> Iterator[dict]:
    """Train on ``N x 3 x H x W`` images in [-1, 1] on ``device``; yields per-epoch losses and the EMA
    generator. Random draws stay on the CPU, so a CPU run is the same whatever the device default."""
    torch.manual_seed(train_config.seed)
    generator, discriminator = FaceDecoder(model_config).to(device), Discriminator(model_config).to(device)
    ema = copy.deepcopy(generator).requires_grad_(False)
    betas = (0.0, 0.99)
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=train_config.lr, betas=betas)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=train_config.lr, betas=betas)
    batches = len(images) // train_config.batch_size
    for epoch in range(train_config.epochs):
        order = torch.randperm(len(images))
        sums = {"d_loss": 0.0, "g_loss": 0.0}
        for batch_index in range(batches):
            real = images[order[batch_index * train_config.batch_size : (batch_index + 1) * train_config.batch_size]]
            real = torch.where((torch.rand(len(real)) < 0.5)[:, None, None, None], real.flip(-1), real).to(device)
            latent = torch.randn(len(real), model_config.latent_dim).to(device)
            fake = generator(latent)
            d_loss = (1 - discriminator(real)).relu().mean() + (1 + discriminator(fake.detach())).relu().mean()
            d_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            d_optimizer.step()
            g_loss = -discriminator(fake).mean()
            g_optimizer.zero_grad(set_to_none=True)
            g_loss.backward()
            g_optimizer.step()
            with torch.no_grad():
                for averaged, current in zip(ema.parameters(), generator.parameters()):
                    averaged.lerp_(current, 1 - train_config.ema_decay)
            sums["d_loss"] += d_loss.item() / batches
            sums["g_loss"] += g_loss.item() / batches
        yield {"epoch": epoch + 1, **sums, "decoder": ema}
