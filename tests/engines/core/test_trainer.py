"""Algorithm 1 trainer, replay buffer and checkpoint I/O."""

from __future__ import annotations

import pytest
import torch

from engines.core.mapping import MappingConfig, MappingNetwork
from engines.core.trainer import MappingTrainer, ReplayBuffer, TrainConfig, train_mapping
from engines.io.checkpoint import load_tensors, resolve_asset, save_module

SMALL = dict(trajectories=6, steps=4, updates_per_round=3, batch_size=8, mapping_lr=1e-3)


def training_targets(model, count=16):
    with torch.no_grad():
        return model(torch.randn(count, model.input_dim, generator=torch.Generator().manual_seed(5)))


def make_mapping(seed=0):
    torch.manual_seed(seed)
    return MappingNetwork(MappingConfig(z_dim=8, x_dim=8, hidden=16))


def test_buffer_holds_n_times_t_samples(tiny_model):
    trainer = MappingTrainer(tiny_model, training_targets(tiny_model), make_mapping(), TrainConfig(rounds=1, **SMALL))
    trainer.collect()
    assert len(trainer.buffer) == 6 * 4
    z, index, weight = trainer.buffer.sample(10, torch.Generator().manual_seed(0))
    assert z.shape == (10, 8) and index.shape == (10,) and weight is None
    assert int(index.max()) < 16
    assert not torch.equal(z[0], torch.zeros(8)) or not torch.equal(z[1], torch.zeros(8))


def test_buffer_ring_overwrites_oldest():
    buffer = ReplayBuffer(capacity=5, z_dim=2)
    buffer.add(torch.arange(8.0).view(4, 2), torch.arange(4))
    buffer.add(torch.full((3, 2), -1.0), torch.full((3,), 9))
    assert len(buffer) == 5
    assert (buffer.target_index == 9).sum() == 3 and set(buffer.target_index.tolist()) == {2, 3, 9}


def test_training_improves_z_space(tiny_model):
    targets = training_targets(tiny_model, 32)
    mapping = make_mapping()
    config = TrainConfig(rounds=8, trajectories=32, steps=5, updates_per_round=20, batch_size=32, mapping_lr=3e-3)

    def loss_after_steps():
        from engines.core.evaluation import run_space

        mapping.requires_grad_(False)
        losses = run_space(tiny_model, targets, mapping=mapping, lr=0.1, steps=5).losses
        mapping.requires_grad_(True)
        return losses[-1]

    before = loss_after_steps()
    stats = list(train_mapping(tiny_model, targets, mapping, config))
    assert [s.round for s in stats] == list(range(1, 9))
    assert loss_after_steps() < before


def test_online_variant_updates_mapping(tiny_model):
    mapping = make_mapping()
    before = [p.clone() for p in mapping.parameters()]
    stats = list(
        train_mapping(tiny_model, training_targets(tiny_model), mapping, TrainConfig(rounds=1, online=True, **SMALL))
    )
    assert stats[0].buffer_size == 6 * 4
    assert any(not torch.equal(a, b) for a, b in zip(before, mapping.parameters()))


def test_resume_is_bit_exact(tiny_model, tmp_path):
    targets = training_targets(tiny_model)
    config = TrainConfig(rounds=4, **SMALL)
    straight = make_mapping()
    list(train_mapping(tiny_model, targets, straight, config))

    resumed = make_mapping()
    first_two = train_mapping(tiny_model, targets, resumed, config, checkpoint_dir=tmp_path)
    next(first_two), next(first_two)
    first_two.close()
    restarted = make_mapping(seed=123)  # fresh weights: everything must come from the checkpoint
    rounds = [
        s.round for s in train_mapping(tiny_model, targets, restarted, config, checkpoint_dir=tmp_path, resume=True)
    ]
    assert rounds == [3, 4]
    for a, b in zip(straight.parameters(), restarted.parameters()):
        assert torch.equal(a, b)


def test_random_starts_put_random_z0_trajectories_in_the_buffer(tiny_model):
    targets = training_targets(tiny_model)
    spreads = {}
    for random_starts in (False, True):
        config = TrainConfig(rounds=1, random_starts=random_starts, start_scale=2.0, **SMALL)
        trainer = MappingTrainer(tiny_model, targets, make_mapping(), config)
        trainer.collect()
        first_steps = trainer.buffer.z[: len(trainer.buffer)].view(6, 4, 8)[:, 0]  # z_1 of each trajectory
        spreads[random_starts] = float(first_steps.std())
    assert spreads[False] < 0.3  # one Adam step of lr 0.1 away from z0 = 0
    assert 1.2 < spreads[True] < 3.0  # near 2 * N(0, I)
    with pytest.raises(ValueError, match="start_scale"):
        TrainConfig(random_starts=True, start_scale=0.0)


def test_zero_start_fraction_keeps_that_share_of_trajectories_at_z0_zero(tiny_model):
    targets = training_targets(tiny_model)
    config = TrainConfig(rounds=1, random_starts=True, start_scale=2.0, zero_start_fraction=0.5, **SMALL)
    trainer = MappingTrainer(tiny_model, targets, make_mapping(), config)
    starts = trainer._starts()
    assert starts.shape == (6, 8)
    assert torch.equal(starts[:3], torch.zeros(3, 8))  # half of the 6 trajectories start at z0 = 0
    assert float(starts[3:].abs().min()) > 0 and float(starts[3:].std()) > 1.0  # the rest near 2 * N(0, I)
    with pytest.raises(ValueError, match="zero_start_fraction"):
        TrainConfig(zero_start_fraction=1.5)


def test_resume_with_random_starts_is_bit_exact(tiny_model, tmp_path):
    targets = training_targets(tiny_model)
    config = TrainConfig(rounds=2, random_starts=True, **SMALL)
    straight = make_mapping()
    list(train_mapping(tiny_model, targets, straight, config))
    resumed = make_mapping()
    first = train_mapping(tiny_model, targets, resumed, config, checkpoint_dir=tmp_path)
    next(first)
    first.close()
    restarted = make_mapping(seed=123)
    list(train_mapping(tiny_model, targets, restarted, config, checkpoint_dir=tmp_path, resume=True))
    for a, b in zip(straight.parameters(), restarted.parameters()):
        assert torch.equal(a, b)


def test_weight_sampler_masks_are_stored(tiny_model):
    def sampler(targets, generator):
        weight = torch.ones(len(targets), 1, 8, 8)
        weight[:, :, :, : int(torch.randint(1, 7, (1,), generator=generator))] = 0
        return weight

    trainer = MappingTrainer(
        tiny_model, training_targets(tiny_model), make_mapping(), TrainConfig(rounds=1, **SMALL), weight_sampler=sampler
    )
    trainer.collect()
    _, _, weight = trainer.buffer.sample(4, torch.Generator().manual_seed(0))
    assert weight.shape == (4, 1, 8, 8) and (weight == 0).any()


def test_checkpoint_round_trip_is_bit_exact(tmp_path):
    mapping = make_mapping()
    config = mapping.config.to_dict()
    save_module(tmp_path / "theta.safetensors", mapping, {"mapping": config})
    tensors, meta = load_tensors(tmp_path / "theta.safetensors")
    loaded = MappingNetwork(MappingConfig.from_dict(meta["mapping"]))
    loaded.load_state_dict(tensors)
    for name, value in mapping.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name])
    z = torch.randn(3, 8)
    assert torch.equal(mapping(z), loaded(z))


def test_missing_checkpoint_says_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_ASSETS", str(tmp_path))
    with pytest.raises(
        FileNotFoundError, match=r"put nothing_here.safetensors and nothing_here.json in .*LANDSCAPE_ASSETS"
    ):
        resolve_asset("nothing_here")
    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    (tmp_path / "broken.json").write_text("{}")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_tensors(resolve_asset("broken"))


def test_mapping_command_line_passes_random_starts():
    from engines.train import cli
    from engines.train.common import train_config_from_args

    args = cli.build_parser().parse_args(["mapping", "--random-starts", "--start-scale", "0.5"])
    config = train_config_from_args(args)
    assert config.random_starts and config.start_scale == 0.5
    assert not train_config_from_args(cli.build_parser().parse_args(["mapping"])).random_starts
