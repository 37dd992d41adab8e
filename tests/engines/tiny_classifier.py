"""A tiny MNIST-shaped classifier trained in a second on synthetic bar images (shared by the defense tests)."""

from __future__ import annotations

import functools

import torch

from engines.models.mnist.model import MnistNet, MnistNetConfig

TINY_CONFIG = MnistNetConfig(channels=(4, 8), features=16, projection=8)


def bar_images(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``count x 1 x 28 x 28`` images in [0, 1]: class 0 a vertical bar, class 1 a horizontal one, plus noise."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    images = 0.1 * torch.rand(count, 1, 28, 28, generator=generator)
    offsets = torch.randint(8, 20, (count,), generator=generator)
    for index, (label, offset) in enumerate(zip(labels.tolist(), offsets.tolist())):
        if label == 0:
            images[index, 0, 4:24, offset - 2 : offset + 2] = 1.0
        else:
            images[index, 0, offset - 2 : offset + 2, 4:24] = 1.0
    return images, labels


@functools.cache
def _trained_state() -> dict:
    torch.manual_seed(0)
    net = MnistNet(TINY_CONFIG)
    images, labels = bar_images(64)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(net(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {name: value.clone() for name, value in net.state_dict().items()}


def trained_tiny_classifier() -> MnistNet:
    """A fresh copy (eval, frozen) of the tiny classifier trained on :func:`bar_images` (trained once per run)."""
    net = MnistNet(TINY_CONFIG)
    net.load_state_dict(_trained_state())
    return net.eval().requires_grad_(False)


def tiny_bank(count: int = 32) -> torch.Tensor:
    """A negative bank ``count x 8`` for the tiny classifier: embeddings of clean bar images."""
    from engines.core.contrastive import embed_bank

    images, _ = bar_images(count, seed=11)
    return embed_bank(trained_tiny_classifier().embed, images, seed=0)
