"""Behaviour of the inversion engine, losses and Θ on tiny random models."""

from __future__ import annotations

import pytest
import torch

from engines.core.losses import get_loss, l1_loss, mse_loss, resolve_loss_name
from engines.core.mapping import IdentityMapping, MappingConfig, MappingNetwork
from engines.core.optim import invert


@pytest.mark.parametrize("optimizer,lr", [("adam", 0.1), ("sgd", 20.0), ("lbfgs", 1.0)])
def test_losses_decrease(tiny_model, tiny_targets, optimizer, lr):
    steps = list(invert(tiny_model, tiny_targets, optimizer=optimizer, lr=lr, steps=30))
    assert len(steps) == 31 and [step.index for step in steps] == list(range(31))
    assert steps[-1].losses.shape == (4,)
    assert (steps[-1].losses < steps[0].losses).all()
    assert steps[-1].losses.mean() < 0.5 * steps[0].losses.mean()


def test_z_space_losses_decrease(tiny_model, tiny_targets):
    torch.manual_seed(0)
    mapping = MappingNetwork(MappingConfig(z_dim=8, x_dim=8, hidden=32)).requires_grad_(False)
    steps = list(invert(tiny_model, tiny_targets, mapping=mapping, lr=0.1, steps=60))
    assert (steps[-1].losses < steps[0].losses).all()
    assert steps[-1].losses.mean() < 0.8 * steps[0].losses.mean()
    assert torch.allclose(steps[-1].x, mapping(steps[-1].z), atol=1e-6)


def test_x_and_z_agree_with_identity_mapping(tiny_model, tiny_targets):
    x_steps = list(invert(tiny_model, tiny_targets, steps=15, lr=0.05))
    z_steps = list(invert(tiny_model, tiny_targets, mapping=IdentityMapping(8), steps=15, lr=0.05))
    for x_step, z_step in zip(x_steps, z_steps):
        assert torch.equal(x_step.x, z_step.x)
        assert torch.equal(x_step.losses, z_step.losses)


def test_step_loss_matches_output(tiny_model, tiny_targets):
    for step in invert(tiny_model, tiny_targets, steps=3):
        assert torch.allclose(step.losses, mse_loss(step.output, tiny_targets), atol=1e-6)
        assert torch.allclose(step.output, tiny_model(step.x), atol=1e-6)


def test_hypotheses_are_a_batch(tiny_model, tiny_targets):
    steps = list(invert(tiny_model, tiny_targets[:2], num_hypotheses=3, z_init="random", seed=3, steps=2))
    assert steps[0].x.shape == (6, 8) and steps[0].output.shape == (6, 3, 8, 8)
    assert not torch.equal(steps[0].x[0], steps[0].x[1])
    again = list(invert(tiny_model, tiny_targets[:2], num_hypotheses=3, z_init="random", seed=3, steps=2))
    assert torch.equal(steps[-1].x, again[-1].x)


def test_mask_excludes_pixels(tiny_model, tiny_targets):
    weight = torch.ones(1, 1, 8, 8)
    weight[..., :4] = 0
    corrupted = tiny_targets.clone()
    corrupted[..., :4] = 5.0  # hidden pixels may hold anything
    output = tiny_model(torch.zeros(4, 8))
    assert torch.allclose(mse_loss(output, corrupted, weight), mse_loss(output[..., 4:], tiny_targets[..., 4:]))
    assert torch.allclose(l1_loss(output, corrupted, weight), l1_loss(output[..., 4:], tiny_targets[..., 4:]))


def test_wrong_target_shape_raises(tiny_model):
    with pytest.raises(ValueError, match="target has shape"):
        next(invert(tiny_model, torch.zeros(2, 3, 16, 16)))
    with pytest.raises(ValueError, match="target has shape"):
        next(invert(tiny_model, torch.zeros(3, 8, 8)))


def test_all_masked_target_raises(tiny_model, tiny_targets):
    with pytest.raises(ValueError, match="hides everything"):
        next(invert(tiny_model, tiny_targets, weight=torch.zeros(1, 1, 8, 8)))
    partly = torch.ones(4, 1, 8, 8)
    partly[2] = 0
    with pytest.raises(ValueError, match="hides everything"):
        next(invert(tiny_model, tiny_targets, weight=partly))


def test_bad_settings_raise(tiny_model, tiny_targets):
    with pytest.raises(ValueError, match="learning rate"):
        next(invert(tiny_model, tiny_targets, lr=0))
    with pytest.raises(ValueError, match="unknown optimizer"):
        next(invert(tiny_model, tiny_targets, optimizer="rmsprop"))
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss("ssim")


def test_lpips_falls_back_to_mse_without_weights(monkeypatch, tmp_path, tiny_model, tiny_targets):
    import engines.core.losses as losses
    import engines.io.checkpoint as checkpoint

    monkeypatch.setattr(losses, "_lpips_cache", {})
    monkeypatch.setattr(checkpoint, "ASSETS_DIR", tmp_path)  # no lpips_alex asset ...
    monkeypatch.delenv("LANDSCAPE_ASSETS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # ... and no torchvision AlexNet
    monkeypatch.delenv("LPIPS_ALEXNET_PATH", raising=False)
    assert resolve_loss_name("mse+lpips") == "mse"
    output = tiny_model(torch.zeros(4, 8))
    assert torch.allclose(get_loss("mse+lpips")(output, tiny_targets, None), mse_loss(output, tiny_targets))


def test_mapping_shape_and_activation():
    mapping = MappingNetwork(MappingConfig(z_dim=16, x_dim=4, hidden=32))
    linears = [layer for layer in mapping.net if isinstance(layer, torch.nn.Linear)]
    activations = [layer for layer in mapping.net if isinstance(layer, torch.nn.LeakyReLU)]
    assert len(linears) == 3 and len(activations) == 2
    assert all(layer.negative_slope == 0.2 for layer in activations)
    assert mapping(torch.zeros(5, 16)).shape == (5, 4)
    with pytest.raises(ValueError):
        MappingConfig(z_dim=0, x_dim=4)


def test_abandoned_run_leaves_grad_mode_alone(tiny_model, tiny_targets):
    steps = invert(tiny_model, tiny_targets, steps=2)
    for step in steps:
        if step.index == 2:
            break  # the caller stops at the last step without exhausting the generator
    assert torch.is_grad_enabled()


def test_penalty_pulls_but_losses_stay_the_data_term(tiny_model, tiny_targets):
    anchor = torch.zeros(len(tiny_targets), tiny_model.input_dim)
    options = dict(lr=0.1, steps=30, loss="mse", keep_output=True)
    *_, free = invert(tiny_model, tiny_targets, **options)
    *_, pulled = invert(tiny_model, tiny_targets, penalty=lambda x: 100.0 * (x - anchor).square().sum(1), **options)
    assert pulled.x.norm() < 0.2 * free.x.norm()
    data_term = mse_loss(pulled.output, tiny_targets)
    torch.testing.assert_close(pulled.losses, data_term)
