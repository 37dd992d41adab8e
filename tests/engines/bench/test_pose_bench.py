"""The pose benchmark end to end on tiny clips and a tiny registered prior (CPU, seconds)."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from engines.bench.pose import run_pose_bench
from engines.core.mapping import MappingConfig, MappingNetwork
from engines.models.pose.data import FRAME_WIDTH
from engines.models.pose.skeleton import BODY_JOINTS, Skeleton
from engines.models.registry import ModelSpec, register_model
from tests.engines.models.pose.test_pose_core import tiny_prior


def cmu_like_skeleton() -> Skeleton:
    names = ("root",) + BODY_JOINTS + tuple(f"extra{i}" for i in range(38 - 1 - len(BODY_JOINTS)))
    return Skeleton(names=names, parents=(-1,) + tuple(range(37)), offsets=((0.0, 1.0, 0.0),) * 38)


def make_prior():
    prior = tiny_prior()
    prior.skeleton = cmu_like_skeleton()
    return prior


def test_pose_bench_writes_the_documented_keys(tmp_path):
    register_model(ModelSpec(name="tiny-pose-bench", description="test", output_kind="pose", load=make_prior,
                             load_mapping=lambda: MappingNetwork(MappingConfig(z_dim=8, x_dim=4, hidden=16))))  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    for clip, frames in (("b/one.txt", 7), ("a.txt", 5)):
        (tmp_path / clip).parent.mkdir(exist_ok=True)
        values = torch.randn(frames, FRAME_WIDTH, generator=generator) * 0.2
        (tmp_path / clip).write_text("\n".join(",".join(f"{v:.5f}" for v in row) for row in values.tolist()))
    args = argparse.Namespace(model="tiny-pose-bench", data=tmp_path, n=6, steps=5, optimizer="adam", mask="upper",
                              seed=0, json=None, x_lr=None, z_lr=None, handoff=2, handoff_lr=None)  # fmt: skip
    result = run_pose_bench(args)
    json.dumps(result)
    keys = ("x_loss", "z_loss", "x_full_error", "z_full_error", "zx_loss", "zx_full_error")
    for key in (*keys, "x_hidden_error", "z_hidden_error", "zx_hidden_error"):
        assert len(result[key]) == 6 and all(value >= 0 for value in result[key])
    assert result["x_lr"] == 0.1 and result["n"] == 6 and result["mask"] == "upper" and result["handoff_step"] == 2
    assert result["zx_loss"][:3] == result["z_loss"][:3]
    assert result["x_loss"][-1] < result["x_loss"][0]
    # the full error counts the hidden (lower-body) joints too, so it differs from the objective
    assert result["x_full_error"][0] != result["x_loss"][0]
    # the hidden error is the same MSE over the lower-body joints alone: 8 of 22 joints, so
    # full = (8 * hidden + 14 * visible) / 22, and the visible part is the objective (its mean)
    for space in ("x", "z", "zx"):
        for full, hidden, loss in zip(
            result[f"{space}_full_error"], result[f"{space}_hidden_error"], result[f"{space}_loss"]
        ):
            assert full == pytest.approx((8 * hidden + 14 * loss) / 22, rel=1e-4)
    args.mask = "none"
    assert run_pose_bench(args)["x_hidden_error"] is None  # nothing hidden, nothing to report
