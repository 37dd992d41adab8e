"""LPIPS with the shipped offline asset: a real perceptual distance, masks respected, AlexNet-like filters."""

from __future__ import annotations

import warnings

import torch

import engines.core.losses as losses
from engines.core.losses import get_loss, lpips_available, lpips_network, mse_loss, resolve_loss_name
from engines.io.images import prepare_image
from tests.conftest import REPO_ROOT

SAMPLES = REPO_ROOT / "app" / "samples"


def faces() -> torch.Tensor:
    return torch.stack([prepare_image(SAMPLES / name, 64).tensor for name in ("face_008003.png", "face_008042.png")])


def test_lpips_runs_offline_from_the_asset():
    assert lpips_available()
    assert resolve_loss_name("mse+lpips") == "mse+lpips"


def test_distance_is_zero_for_identical_images_and_grows_with_noise():
    network = lpips_network()
    image = faces()[:1]
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        distances = [float(network(image, (image + s * noise).clamp(-1, 1)).mean()) for s in (0.0, 0.05, 0.1, 0.3)]
    assert distances[0] == 0.0
    assert all(b > a for a, b in zip(distances, distances[1:]))


def test_another_face_is_further_than_a_blurred_copy():
    first, second = faces()
    blurred = torch.nn.functional.avg_pool2d(first[None], 3, stride=1, padding=1, count_include_pad=False)
    network = lpips_network()
    with torch.no_grad():
        assert float(network(first[None], blurred).mean()) < float(network(first[None], second[None]).mean())


def test_hidden_pixels_do_not_count_in_mse_plus_lpips():
    first, second = faces()
    changed = first.clone()
    changed[:, 40:, :] = second[:, 40:, :]  # differs only in the bottom rows
    weight = torch.ones(1, 1, 64, 64)
    weight[..., 32:, :] = 0
    loss = get_loss("mse+lpips")
    masked = float(loss(changed[None], first[None], weight))
    unmasked = float(loss(changed[None], first[None], None))
    assert masked < 1e-6 < unmasked  # nothing of the hidden rows leaks through AlexNet's receptive fields
    assert unmasked > float(mse_loss(changed[None], first[None]))  # LPIPS adds to the pixel term


def test_conv1_filters_are_smooth_like_alexnets():
    weight = lpips_network().net.slice1[0].weight  # 64 x 3 x 11 x 11
    centred = weight - weight.mean(dim=(2, 3), keepdim=True)
    neighbour = (centred[..., 1:] * centred[..., :-1]).sum() / (centred.square().sum())
    assert neighbour > 0.5  # trained edge / blob filters; random filters give about 0


def test_small_and_grey_images_are_measured_too():
    loss = get_loss("mse+lpips")
    digits = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    weight = torch.ones(1, 1, 28, 28)
    weight[..., :4] = 0
    values = loss(digits, digits.flip(0), weight)
    assert values.shape == (2,) and bool((values > 0).all())
    assert float(loss(digits, digits, weight).abs().max()) < 1e-6


def test_building_lpips_raises_no_torchvision_deprecation_warning(monkeypatch):
    monkeypatch.setattr(losses, "_lpips_cache", {})  # build it afresh
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert lpips_network() is not None
    assert not [str(warning.message) for warning in caught if "torchvision" in warning.filename]
