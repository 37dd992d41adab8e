"""Z→X (hand-off) and several spaces as one batch: behaviour on tiny random models."""

from __future__ import annotations

import pytest
import torch

from engines.core.mapping import MappingConfig, MappingNetwork
from engines.core.optim import Space, invert, invert_spaces


@pytest.fixture
def mapping():
    torch.manual_seed(0)
    return MappingNetwork(MappingConfig(z_dim=6, x_dim=8, hidden=32)).requires_grad_(False)


def test_handoff_follows_z_then_continues_in_x(tiny_model, tiny_targets, mapping):
    z_steps = list(invert(tiny_model, tiny_targets, mapping=mapping, lr=0.1, steps=12))
    zx_steps = list(invert(tiny_model, tiny_targets, mapping=mapping, lr=0.1, steps=12, handoff=4, handoff_lr=0.05))
    assert [step.index for step in zx_steps] == list(range(13))
    assert [step.space for step in zx_steps] == ["z"] * 4 + ["x"] * 9
    for z_step, zx_step in zip(z_steps[:5], zx_steps[:5]):  # identical up to and including Θ(z_4)
        assert torch.allclose(z_step.x, zx_step.x, atol=1e-6)
    z_k = zx_steps[4].z
    assert torch.allclose(zx_steps[4].x, mapping(z_k), atol=1e-6)
    assert all(torch.equal(step.z, z_k) for step in zx_steps[4:])  # z stays at z_k after the hand-off
    assert not torch.allclose(zx_steps[-1].x, mapping(z_k), atol=1e-4)  # x moved off Θ's range
    assert zx_steps[-1].x.shape == (4, 8) and zx_steps[-1].z.shape == (4, 6)


def test_handoff_escapes_a_thin_mapping(tiny_model, tiny_targets):
    """A Θ whose range is a 2-d slice of X plateaus; Z→X keeps going below it."""
    torch.manual_seed(1)
    thin = MappingNetwork(MappingConfig(z_dim=2, x_dim=8, hidden=16)).requires_grad_(False)
    z_run = list(invert(tiny_model, tiny_targets, mapping=thin, lr=0.1, steps=80))
    zx_run = list(invert(tiny_model, tiny_targets, mapping=thin, lr=0.1, steps=80, handoff=10, handoff_lr=0.05))
    assert zx_run[-1].losses.mean() < 0.7 * z_run[-1].losses.mean()
    assert (zx_run[-1].losses <= zx_run[10].losses).all()


def test_spaces_in_one_batch_match_separate_runs(tiny_model, tiny_targets, mapping):
    weight = torch.ones(1, 1, 8, 8)
    weight[..., :3] = 0
    spaces = [
        Space(lr=0.05),
        Space(mapping=mapping, lr=0.1),
        Space(mapping=mapping, lr=0.1, handoff=3, handoff_lr=0.05),
    ]
    common = dict(weight=weight, steps=10, num_hypotheses=2, z_init="random", seed=5)
    together = list(invert_spaces(tiny_model, tiny_targets, spaces, **common))
    assert len(together) == 11 and all(len(steps) == 3 for steps in together)
    separate = [
        list(invert(tiny_model, tiny_targets, lr=0.05, **common)),
        list(invert(tiny_model, tiny_targets, mapping=mapping, lr=0.1, **common)),
        list(invert(tiny_model, tiny_targets, mapping=mapping, lr=0.1, handoff=3, handoff_lr=0.05, **common)),
    ]
    for index, steps in enumerate(together):
        for arm, step in enumerate(steps):
            alone = separate[arm][index]
            assert step.index == alone.index and step.space == alone.space
            assert step.losses.shape == (8,) and step.output.shape == (8, 3, 8, 8)
            assert torch.allclose(step.losses, alone.losses, rtol=1e-4, atol=1e-6)
            assert torch.allclose(step.x, alone.x, rtol=1e-4, atol=1e-5)


def test_spaces_share_one_forward_pass(tiny_model, tiny_targets, mapping):
    calls = []
    tiny_model.register_forward_hook(lambda _module, inputs, _output: calls.append(inputs[0].shape[0]))
    spaces = [Space(lr=0.05), Space(mapping=mapping), Space(mapping=mapping, handoff=2)]
    list(invert_spaces(tiny_model, tiny_targets, spaces, steps=5))
    assert calls == [12] * 6  # 5 steps + the final evaluation, each one batch of 3 spaces x 4 targets


@pytest.mark.parametrize("optimizer,lr", [("sgd", 20.0), ("lbfgs", 1.0)])
def test_handoff_with_other_optimizers(tiny_model, tiny_targets, mapping, optimizer, lr):
    steps = list(invert(tiny_model, tiny_targets, mapping=mapping, optimizer=optimizer, lr=lr, steps=20, handoff=5))
    assert steps[-1].space == "x" and steps[-1].finite
    assert steps[-1].losses.mean() < steps[5].losses.mean() <= steps[0].losses.mean()


def test_handoff_at_zero_starts_x_from_theta_of_z0(tiny_model, tiny_targets, mapping):
    steps = list(invert(tiny_model, tiny_targets, mapping=mapping, steps=3, handoff=0))
    assert [step.space for step in steps] == ["x"] * 4
    assert torch.allclose(steps[0].x, mapping(torch.zeros(4, 6)), atol=1e-6)


def test_handoff_beyond_the_steps_is_plain_z(tiny_model, tiny_targets, mapping):
    z_steps = list(invert(tiny_model, tiny_targets, mapping=mapping, steps=4))
    late = list(invert(tiny_model, tiny_targets, mapping=mapping, steps=4, handoff=10))
    assert all(step.space == "z" for step in late)
    assert torch.allclose(z_steps[-1].x, late[-1].x, atol=1e-6)


def test_bad_handoff_raises(tiny_model, tiny_targets, mapping):
    with pytest.raises(ValueError, match="needs a mapping"):
        next(invert(tiny_model, tiny_targets, handoff=3))
    with pytest.raises(ValueError, match="handoff"):
        next(invert(tiny_model, tiny_targets, mapping=mapping, handoff=-1))
    with pytest.raises(ValueError, match="learning rate"):
        next(invert(tiny_model, tiny_targets, mapping=mapping, handoff=2, handoff_lr=0.0))
    with pytest.raises(ValueError, match="at least one space"):
        next(invert_spaces(tiny_model, tiny_targets, []))


def test_residual_mapping_adds_a_free_residual(mapping):
    from engines.core.mapping import ResidualMapping

    residual = ResidualMapping(mapping, 8, scale=0.5)
    z = torch.randn(3, 14)
    assert residual.z_dim == 14
    assert torch.allclose(residual(z), mapping(z[:, :6]) + 0.5 * z[:, 6:])
    assert torch.allclose(residual(torch.zeros(2, 14)), mapping(torch.zeros(2, 6)))  # zeros start where Θ(0) is


def test_handoff_penalty_acts_after_the_handoff_only(tiny_model, tiny_targets, mapping):
    from engines.core.masked import prior_penalty

    options = dict(mapping=mapping, lr=0.1, steps=20, handoff=5, handoff_lr=0.1)
    free = list(invert(tiny_model, tiny_targets, **options))
    pulled = list(invert(tiny_model, tiny_targets, handoff_penalty=prior_penalty(50.0, "gauss"), **options))
    for before, after in zip(free[:6], pulled[:6]):  # the Z phase is untouched: the pull is X's alone
        assert torch.allclose(before.x, after.x, atol=1e-6)
    assert pulled[-1].x.square().mean() < 0.5 * free[-1].x.square().mean()  # towards the prior's centre


def test_prior_penalty_kinds():
    from engines.core.masked import prior_penalty

    x = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    assert prior_penalty(0.0) is None
    torch.testing.assert_close(prior_penalty(2.0, "gauss")(x), torch.tensor([0.0, 2.0, 8.0]))
    torch.testing.assert_close(prior_penalty(1.0, "shell")(x), torch.tensor([1.0, 0.0, 9.0]))  # the shell |x|² = D
    with pytest.raises(ValueError, match="unknown prior penalty"):
        prior_penalty(1.0, "laplace")
