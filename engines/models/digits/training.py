"""Training the digits GAN (hinge loss, spectral-norm projection discriminator) and its classifier.

Both read MNIST train as ``N x 1 x 28 x 28`` in [-1, 1] with labels ``N``; the arrays of
``mnist.npz`` may be sorted by label, so every epoch draws a fresh random order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from engines.models.digits.model import NUM_CLASSES, DigitsClassifier, DigitsConfig, DigitsNet


def load_mnist(path: Path, split: str = "train") -> tuple[Tensor, Tensor]:
    """``mnist.npz`` split ``train`` or ``test`` -> (``N x 1 x 28 x 28`` in [-1, 1], ``N`` long labels)."""
    with np.load(path) as arrays:
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
    return torch.from_numpy(images).float().div(127.5).sub(1).unsqueeze(1), torch.from_numpy(labels).long()


@dataclass(frozen=True, kw_only=True)
class DigitsGANConfig:
    epochs: int = 5
    batch_size: int = 64
    lr: float = 2e-4
    discriminator_width: int = 32
    seed: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class ProjectionDiscriminator(nn.Module):
    """``B x 1 x 28 x 28`` and labels ``B`` -> ``B`` realness (spectral norm; class by projection)."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.body = nn.Sequential(
            spectral_norm(nn.Conv2d(1, width, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(2 * width, 4 * width, 3, padding=1)),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        features = 4 * width * 49
        self.score = spectral_norm(nn.Linear(features, 1))
        self.projection = spectral_norm(nn.Embedding(NUM_CLASSES, features))

    def forward(self, images: Tensor, labels: Tensor) -> Tensor:
        features = self.body(images)
        return self.score(features).squeeze(1) + (self.projection(labels) * features).sum(1)


def train_digits_gan(
    images: Tensor,
    labels: Tensor,
    model_config: DigitsConfig,
    train_config: DigitsGANConfig,
    *,
    initial: dict[str, Tensor] | None = None,
) -> Iterator[dict]:
    """Train G(z, c) on ``N x 1 x 28 x 28`` digits with labels ``N``; yields per-epoch losses and ``net``.

    ``initial``: a generator state to continue from (the discriminator starts afresh)."""
    torch.manual_seed(train_config.seed)
    generator = DigitsNet(model_config)
    if initial is not None:
        generator.load_state_dict(initial)
    discriminator = ProjectionDiscriminator(train_config.discriminator_width)
    betas = (0.0, 0.99)
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=train_config.lr, betas=betas)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=train_config.lr, betas=betas)
    batches = len(images) // train_config.batch_size
    for epoch in range(train_config.epochs):
        order = torch.randperm(len(images))
        sums = {"d_loss": 0.0, "g_loss": 0.0}
        for batch_index in range(batches):
            chosen = order[batch_index * train_config.batch_size : (batch_index + 1) * train_config.batch_size]
            real, real_labels = images[chosen], labels[chosen]
            fake_labels = torch.randint(0, model_config.num_classes, (len(real),))
            latent = torch.randn(len(real), model_config.latent_dim)
            fake = generator(latent, generator.embedding(fake_labels))
            d_loss = (1 - discriminator(real, real_labels)).relu().mean()
            d_loss = d_loss + (1 + discriminator(fake.detach(), fake_labels)).relu().mean()
            d_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            d_optimizer.step()
            g_loss = -discriminator(fake, fake_labels).mean()
            g_optimizer.zero_grad(set_to_none=True)
            g_loss.backward()
            g_optimizer.step()
            sums["d_loss"] += d_loss.item() / batches
            sums["g_loss"] += g_loss.item() / batches
        yield {"epoch": epoch + 1, **sums, "net": generator}


def train_digits_classifier(
    images: Tensor, labels: Tensor, *, epochs: int = 3, batch_size: int = 128, lr: float = 1e-3, seed: int = 0
) -> Iterator[dict]:
    """Train the classifier on ``N x 1 x 28 x 28`` digits (random shifts of ±2 px); yields per-epoch loss."""
    torch.manual_seed(seed)
    classifier = DigitsClassifier()
    optimizer = torch.optim.Adam(classifier.parameters(), lr=lr)
    batches = len(images) // batch_size
    for epoch in range(epochs):
        order = torch.randperm(len(images))
        total = 0.0
        for batch_index in range(batches):
            chosen = order[batch_index * batch_size : (batch_index + 1) * batch_size]
            shift = torch.randint(-2, 3, (2,)).tolist()
            batch = torch.roll(images[chosen], shifts=shift, dims=(2, 3))
            loss = nn.functional.cross_entropy(classifier(batch), labels[chosen])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() / batches
        yield {"epoch": epoch + 1, "loss": total, "classifier": classifier}


@torch.no_grad()
def classifier_accuracy(classifier: nn.Module, images: Tensor, labels: Tensor, batch_size: int = 1000) -> float:
    """Share of ``images`` (``N x C x 28 x 28``) whose argmax logit is the label."""
    classifier.eval()
    correct = sum(
        (classifier(images[start : start + batch_size]).argmax(1) == labels[start : start + batch_size]).sum().item()
        for start in range(0, len(images), batch_size)
    )
    return correct / len(images)
