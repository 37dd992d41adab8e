"""Shared fixtures: tiny random forward models on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from engines.models.registry import ForwardModel

torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parent.parent


class TinyImageModel(ForwardModel):
    """A random 8-d -> 3x8x8 image generator, small enough for tests to take milliseconds."""

    output_kind = "image"

    def __init__(self, input_dim: int = 8, size: int = 8):
        super().__init__()
        self.input_dim = input_dim
        self.output_shape = (3, size, size)
        self.net = nn.Sequential(nn.Linear(input_dim, 64), nn.LeakyReLU(0.2), nn.Linear(64, 3 * size * size), nn.Tanh())

    def forward(self, x):
        return self.net(x).view(-1, *self.output_shape)


@pytest.fixture
def tiny_model() -> TinyImageModel:
    torch.manual_seed(0)
    return TinyImageModel().eval().requires_grad_(False)


@pytest.fixture
def tiny_targets(tiny_model) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        return tiny_model(torch.randn(4, tiny_model.input_dim, generator=generator))
