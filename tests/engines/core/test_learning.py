"""Algorithm 1 as a caller-driven stream (learn_rounds) and the X / Z / Z→X probe of any Θ."""

from __future__ import annotations

import pytest
import torch

from engines.core.learning import ProbeSettings, as_module, learn_rounds, probe_mapping
from engines.core.mapping import IdentityMapping, MappingConfig, MappingNetwork
from engines.core.trainer import MappingTrainer, TrainConfig

SMALL = TrainConfig(rounds=1000, trajectories=16, steps=4, updates_per_round=10, batch_size=16, mapping_lr=3e-3)
SETTINGS = ProbeSettings(x_lr=0.1, z_lr=0.1, handoff=2, handoff_lr=0.1, steps=(2, 5, 10))


def targets_of(model, count=16, seed=5):
    with torch.no_grad():
        return model(torch.randn(count, model.input_dim, generator=torch.Generator().manual_seed(seed)))


def new_trainer(model, seed=0, config=SMALL):
    torch.manual_seed(seed)
    mapping = MappingNetwork(MappingConfig(z_dim=8, x_dim=8, hidden=16))
    return MappingTrainer(model, targets_of(model), mapping, config)


def test_rounds_yield_figures_and_a_detached_copy_of_theta(tiny_model):
    trainer = new_trainer(tiny_model)
    rounds = list(learn_rounds(trainer, rounds=3))
    assert [done.round for done in rounds] == [1, 2, 3]
    assert all(done.updates == 10 and done.seconds > 0 for done in rounds)
    assert rounds[-1].learning_seconds == pytest.approx(sum(done.seconds for done in rounds))
    assert not torch.equal(rounds[0].mapping["net.0.weight"], rounds[-1].mapping["net.0.weight"])
    live = trainer.mapping.state_dict()
    assert all(torch.equal(rounds[-1].mapping[name], live[name]) for name in live)
    rounds[-1].mapping["net.0.weight"].zero_()  # a copy: changing it leaves the trainer's Θ alone
    assert trainer.mapping.state_dict()["net.0.weight"].abs().sum() > 0


def test_the_caller_owns_the_loop(tiny_model):
    trainer = new_trainer(tiny_model)
    stream = learn_rounds(trainer, rounds=50)
    next(stream), next(stream)
    stream.close()
    assert trainer.round == 2


def test_time_budget_stops_starting_rounds(tiny_model):
    rounds = list(learn_rounds(new_trainer(tiny_model), seconds=0.3))
    assert rounds and rounds[-1].learning_seconds >= 0.3
    assert rounds[-2].learning_seconds < 0.3 if len(rounds) > 1 else True
    with pytest.raises(ValueError, match="budget"):
        next(learn_rounds(new_trainer(tiny_model), seconds=0))
    with pytest.raises(ValueError, match="seconds"):
        next(learn_rounds(new_trainer(tiny_model)))


def test_seeded_and_resumable(tiny_model, tmp_path):
    straight = list(learn_rounds(new_trainer(tiny_model), rounds=3))[-1].mapping
    again = list(learn_rounds(new_trainer(tiny_model), rounds=3))[-1].mapping
    assert all(torch.equal(straight[name], again[name]) for name in straight)
    first = new_trainer(tiny_model)
    list(learn_rounds(first, rounds=2))
    first.save(tmp_path / "state.safetensors")
    resumed = new_trainer(tiny_model, seed=7)  # another start: the checkpoint overrides it
    resumed.load(tmp_path / "state.safetensors")
    last = list(learn_rounds(resumed, rounds=1))[-1]
    assert last.round == 3
    assert all(torch.equal(straight[name], last.mapping[name]) for name in straight)


def test_learning_lowers_the_probed_z_loss(tiny_model):
    trainer = new_trainer(tiny_model)
    validation = targets_of(tiny_model, 8, seed=11)
    before = probe_mapping(tiny_model, validation, trainer.mapping, SETTINGS, spaces=("z",)).losses["z"][10]
    last = list(learn_rounds(trainer, rounds=10))[-1]
    after = probe_mapping(tiny_model, validation, as_module(last.mapping, trainer.mapping), SETTINGS, spaces=("z",))
    assert after.losses["z"][10] < 0.8 * before


def test_probe_with_identity_theta_gives_z_equal_to_x(tiny_model):
    validation = targets_of(tiny_model, 6, seed=3)
    probe = probe_mapping(tiny_model, validation, IdentityMapping(8), SETTINGS, keep=(2,))
    assert probe.losses["x"] == pytest.approx(probe.losses["z"])
    assert set(probe.losses["x"]) == {2, 5, 10}
    assert probe.losses["x"][10] < probe.losses["x"][2]
    assert probe.outputs["z"][2].shape == (6, *tiny_model.output_shape)
    as_json = probe.to_dict()
    assert set(as_json) == {"x_loss", "z_loss", "zx_loss"} and set(as_json["zx_loss"]) == {"2", "5", "10"}


def test_probe_control_a_copy_of_the_target_is_not_what_it_measures(tiny_model):
    """X probed alone equals X probed beside Z and Z→X (one batch of F, independent items), and a
    zero Θ (every z gives x = 0) cannot beat X: the probe measures inversion, not the target."""
    validation = targets_of(tiny_model, 6, seed=3)
    zero = MappingNetwork(MappingConfig(z_dim=8, x_dim=8, hidden=16))
    for parameter in zero.parameters():
        parameter.data.zero_()
    alone = probe_mapping(tiny_model, validation, None, SETTINGS, spaces=("x",))
    together = probe_mapping(tiny_model, validation, zero, SETTINGS)
    assert alone.losses["x"] == pytest.approx(together.losses["x"], rel=1e-5)
    assert together.losses["z"][10] > together.losses["x"][10]
    assert alone.merged(together).losses.keys() == {"x", "z", "zx"}
    with pytest.raises(ValueError, match="mapping"):
        probe_mapping(tiny_model, validation, None, SETTINGS, spaces=("z",))
    with pytest.raises(ValueError, match="spaces"):
        probe_mapping(tiny_model, validation, zero, SETTINGS, spaces=("w",))
