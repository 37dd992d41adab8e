"""Steerable walks and GANSpace directions on tiny generators whose right answer is known."""

from __future__ import annotations

import torch
from torch import nn

from engines.core.directions import change_consistency, edit_images, fit_steerable_direction, ganspace_directions


class Blob(nn.Module):
    """A Gaussian blob centred at (x0, x1) / 2 (normalised coordinates); x2, x3 do nothing. ``B x 4`` -> ``1 x 28²``."""

    input_dim = 4

    def forward(self, x, condition=None):
        coords = torch.linspace(-1, 1, 28)
        across = torch.exp(-((coords[None] - x[:, :1] / 2) ** 2) / 0.02)
        down = torch.exp(-((coords[None] - x[:, 1:2] / 2) ** 2) / 0.02)
        return (down[:, :, None] * across[:, None, :])[:, None] * 2 - 1


def test_edit_images_shift_moves_content_and_fills_black():
    image = -torch.ones(1, 1, 28, 28)
    image[..., 10, 10] = 1
    moved = edit_images(image, "shift_x", torch.tensor([1.0]))  # 4 px right
    assert float(moved[..., 10, 14]) > 0.9 and float(moved[..., 10, 10]) < -0.9
    assert torch.allclose(edit_images(image, "zoom", torch.tensor([0.0])), image, atol=1e-5)


def test_steerable_walk_finds_the_coordinate_that_shifts_the_blob():
    generator = Blob()

    def sample(count, rng):
        x = torch.randn(count, 4, generator=rng) * 0.3
        return x, torch.zeros(count, 0)

    fit = fit_steerable_direction(generator, sample, "shift_x", dim=4, steps=150, batch=32, lr=0.05)
    # 4 px of 28 = 8/28 of the [-1, 1] frame; the blob moves x0 / 2: x0 must grow by ~0.57 per unit α
    assert 0.4 < float(fit.direction[0]) < 0.75
    assert float(fit.direction[1:].abs().max()) < 0.1
    assert sum(fit.losses[-10:]) / 10 < 0.3 * fit.start_loss  # far better than not moving at all


def test_ganspace_first_direction_is_the_dominant_one_and_consistent():
    torch.manual_seed(0)
    mixing = torch.diag(torch.tensor([0.1, 5.0, 0.2, 1.0]))  # input 1 drives the features most, then input 3
    generator = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Tanh())
    generator[0].weight.data = 0.2 * mixing  # mild: tanh stays near its linear range
    latents = torch.randn(500, 4)
    directions, share = ganspace_directions(lambda x: x @ mixing.T, latents, components=2)
    assert abs(float(directions[0, 1])) > 0.99 and abs(float(directions[1, 3])) > 0.99
    assert share[0] > share[1] > 0
    assert change_consistency(generator, latents[:50], directions[0], 1.0) > 0.9
