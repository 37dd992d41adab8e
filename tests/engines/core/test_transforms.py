"""Transforms invert exactly; φ0 comes from a mask's box."""

from __future__ import annotations

import pytest
import torch

from engines.core.transforms import (
    affine_matrix,
    apply_transform,
    footprint,
    foreground_box,
    identity_params,
    inverse_params,
    invert_transform,
    params_from_mask,
    params_to_search,
    search_dim,
    search_to_params,
)


def phi(sx, sy, tx, ty, gamma):
    return torch.tensor([[sx, sy, tx, ty, gamma]], dtype=torch.float64)


def homogeneous(matrix: torch.Tensor) -> torch.Tensor:
    bottom = torch.tensor([[[0.0, 0.0, 1.0]]], dtype=matrix.dtype).expand(len(matrix), 1, 3)
    return torch.cat([matrix, bottom], dim=1)


def test_inverse_params_compose_to_the_identity():
    params = torch.cat([phi(0.7, 1.3, 0.2, -0.4, 0.6), phi(2.0, 0.5, -0.9, 0.1, 1.7)])
    product = homogeneous(affine_matrix(params)) @ homogeneous(affine_matrix(inverse_params(params)))
    assert torch.allclose(product, torch.eye(3, dtype=torch.float64).expand(2, 3, 3), atol=1e-12)
    assert torch.allclose(inverse_params(inverse_params(params)), params, atol=1e-12)


def test_images_round_trip_exactly_for_pixel_shifts_and_brightness():
    image = torch.rand(2, 3, 16, 16, dtype=torch.float64) * 2 - 1
    params = torch.cat([phi(1.0, 1.0, 2 * 3 / 16, -2 * 2 / 16, 0.5), phi(1.0, 1.0, 0.0, 0.0, 1.8)])
    moved = apply_transform(image, params, padding="zeros")
    back = invert_transform(moved, params, padding="zeros")
    # item 0 shifted right 3 px and up 2 px: every pixel that stayed on the canvas comes back exactly
    assert torch.allclose(back[0, :, :14, 3:], image[0, :, :14, 3:], atol=1e-12)
    assert torch.allclose(back[1], image[1], atol=1e-12)
    assert torch.allclose(moved[0, :, 2:, :13], 0.5 * (image[0, :, :14, 3:] + 1) - 1, atol=1e-12)


def test_smooth_images_round_trip_under_scaling():
    coords = torch.linspace(-1, 1, 32, dtype=torch.float64)
    image = (coords[None, :] * 0.5 + coords[:, None] * 0.3).expand(1, 1, 32, 32)  # linear: bilinear is exact
    params = phi(0.8, 0.6, 0.1, -0.1, 1.0)
    back = invert_transform(apply_transform(image, params), params)
    inside = footprint(params, image.shape) > 0.999
    assert torch.allclose(back[inside.expand_as(back)], image[inside.expand_as(image)], atol=1e-9)


def test_search_vector_round_trip():
    params = phi(0.7, 1.3, 0.2, -0.4, 0.6).float()
    for kind in ("spatial", "color", "spatial+color"):
        u = params_to_search(params, kind)
        assert u.shape == (1, search_dim(kind))
        assert torch.allclose(search_to_params(u, kind, params), params, atol=1e-6)
    assert torch.allclose(
        search_to_params(params_to_search(params, "color"), "color", identity_params(1))[0, 4], params[0, 4]
    )


def test_params_from_mask_box():
    mask = torch.zeros(2, 1, 8, 8)
    mask[0, 0, 2:6, 4:8] = 1  # a box in the upper right, 4 x 4 pixels
    estimate = params_from_mask(mask)
    assert torch.allclose(estimate[0], torch.tensor([0.5, 0.5, 0.5, 0.0, 1.0]))
    assert torch.equal(estimate[1], identity_params(1)[0])  # empty mask: identity
    # the box, moved into the generator's frame, fills it (up to bilinear blur at the border)
    framed = apply_transform(mask[:1] * 2 - 1, estimate[:1], padding="border")
    assert bool((framed[..., 1:-1, 1:-1] > 0.99).all()) and float(framed.mean()) > 0.7
    with pytest.raises(ValueError, match="unknown transform"):
        search_dim("rotate")


def test_foreground_box_frames_what_differs_from_the_border():
    image = -torch.ones(3, 1, 12, 12)
    image[0, 0, 3, 5] = image[0, 0, 7, 2] = 0.5  # two dots: the box spans both, filled in between
    image[2] = torch.linspace(-1, 1, 12)[None, None].expand(1, 12, 12)  # a gradient everywhere: no box
    box = foreground_box(image)
    expected = torch.zeros(12, 12)
    expected[3:8, 2:6] = 1
    assert torch.equal(box[0, 0], expected)
    assert float(box[1].sum()) == 0 and float(box[2].sum()) == 0  # blank, and a photo-like whole-image box
    assert torch.allclose(params_from_mask(box[:1])[0, 2:4], torch.tensor([(2 + 6) / 12 - 1, (3 + 8) / 12 - 1]))
