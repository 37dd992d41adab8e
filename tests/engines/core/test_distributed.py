"""Θ training over 2 CPU processes (gloo): identical Θ on both ranks, and resume with another world size."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from engines.core import distributed
from engines.core.mapping import MappingConfig, MappingNetwork
from engines.core.trainer import TrainConfig, train_mapping
from engines.io.checkpoint import load_tensors, save_tensors
from tests.conftest import TinyImageModel

CONFIG = TrainConfig(rounds=2, trajectories=6, steps=3, updates_per_round=4, batch_size=8, mapping_lr=1e-2)


def tiny_problem() -> tuple[TinyImageModel, torch.Tensor]:
    torch.manual_seed(0)
    forward = TinyImageModel().eval().requires_grad_(False)
    with torch.no_grad():
        targets = forward(torch.randn(12, forward.input_dim, generator=torch.Generator().manual_seed(5)))
    return forward, targets


def new_mapping(seed: int) -> MappingNetwork:
    torch.manual_seed(seed)
    return MappingNetwork(MappingConfig(z_dim=8, x_dim=8, hidden=16))


def train_one_round(rank: int, world_size: int, folder: str) -> None:
    """One rank: a different random Θ per rank (DDP must broadcast rank 0's), one round, Θ saved per rank."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world_size)
    try:
        forward, targets = tiny_problem()
        mapping = new_mapping(seed=rank)
        rounds = train_mapping(forward, targets, mapping, CONFIG, checkpoint_dir=Path(folder) / "run")
        stats = next(rounds)
        rounds.close()
        assert stats.round == 1 and distributed.current_ranks().world_size == world_size
        save_tensors(Path(folder) / f"theta_rank{rank}.safetensors", mapping.state_dict(), {"round": stats.round})
    finally:
        dist.destroy_process_group()


def test_ranks_shard_trajectories_without_overlap():
    shards = [distributed.Ranks(rank, 3).shard(8) for rank in range(3)]
    assert [range(8)[shard] for shard in shards] == [range(0, 3), range(3, 6), range(6, 8)]
    assert distributed.Ranks().shard(5) == slice(0, 5)


def test_two_gloo_ranks_end_with_identical_theta_and_resume_on_one(tmp_path):
    mp.spawn(train_one_round, args=(2, str(tmp_path)), nprocs=2, join=True)
    rank0, _ = load_tensors(tmp_path / "theta_rank0.safetensors")
    rank1, _ = load_tensors(tmp_path / "theta_rank1.safetensors")
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    initial = new_mapping(seed=0).state_dict()
    assert any(not torch.equal(rank0[name], initial[name]) for name in rank0)  # Θ did train

    state, meta = load_tensors(tmp_path / "run" / "state.safetensors")
    assert meta["round"] == 1 and len(state["buffer.z"]) == CONFIG.trajectories * CONFIG.steps  # both ranks' buffers
    for name in rank0:
        assert torch.equal(state[f"mapping.{name}"], rank0[name])

    forward, targets = tiny_problem()
    resumed = new_mapping(seed=7)
    stats = list(train_mapping(forward, targets, resumed, CONFIG, checkpoint_dir=tmp_path / "run", resume=True))
    assert [s.round for s in stats] == [2]
    assert stats[0].buffer_size == 2 * CONFIG.trajectories * CONFIG.steps
