# ruff: noqa: F811  (the fixtures imported from test_cli are parameters here)
"""``python -m engines.bench learn`` end to end on a tiny registered model: its flags and exactly its JSON keys."""

from __future__ import annotations

import json

import pytest
import torch

from engines.bench import cli as bench
from engines.core.trainer import TrainConfig
from engines.train import live
from tests.engines.bench.test_cli import image_folder, tiny_registered  # noqa: F401  (fixtures)

SMALL = TrainConfig(rounds=10_000, trajectories=8, steps=4, updates_per_round=30, batch_size=8, mapping_lr=3e-3)


def test_learn_bench_json_has_exactly_the_issue_keys(tiny_registered, image_folder, tmp_path, monkeypatch, capsys):
    recipe = live.LiveRecipe(SMALL, hidden=16, z_dim=None, targets=8, data="tiny", probe_loss="mse")
    monkeypatch.setitem(live.RECIPES, tiny_registered, recipe)
    with torch.no_grad():
        from engines.models.registry import load_model

        made = load_model(tiny_registered)(torch.randn(16, 8, generator=torch.Generator().manual_seed(2)))
    monkeypatch.setattr(live, "training_targets", lambda model, seed=0: made)
    out = tmp_path / "learn.json"
    arguments = ["learn", "--model", tiny_registered, "--data", str(image_folder), "--n", "3", "--seconds", "0.5"]
    bench.main([*arguments, "--start", "random", "--seed", "0", "--json", str(out)])
    result = json.loads(out.read_text())
    assert set(result) == {"model", "seconds", "rounds", "trajectory_loss", "probe", "shipped"}
    assert result["rounds"] >= 1 and len(result["trajectory_loss"]) == len(result["probe"]) == result["rounds"]
    assert result["seconds"] >= 0.5
    full = [result["probe"][0], result["probe"][-1], result["shipped"]]  # the first and last rounds go to 200
    for probe in [*result["probe"], result["shipped"]]:
        assert set(probe) == {"x_loss", "z_loss", "zx_loss"}
        expected = {"2", "20", "200"} if any(probe is other for other in full) else {"2", "20"}
        assert set(probe["z_loss"]) == set(probe["zx_loss"]) == expected
        assert set(probe["x_loss"]) == {"2", "20", "200"}  # X does not depend on Θ: probed once, to 200
    assert result["rounds"] >= 3, "a budget of several rounds, so that an intermediate one is probed to 20 only"
    assert result["probe"][0]["x_loss"] == result["shipped"]["x_loss"]  # X does not depend on Θ
    printed = capsys.readouterr().out
    assert "round 1 (" in printed and "x the shipped Θ's Z@20" in printed


def test_invert_reads_a_one_file_theta_and_refuses_one_of_the_wrong_shape(
    tiny_registered, image_folder, tmp_path, capsys
):
    from engines import invert as invert_cli
    from engines.core.mapping import MappingConfig, MappingNetwork, save_mapping_file

    torch.manual_seed(4)
    theta = tmp_path / "mine.safetensors"
    save_mapping_file(theta, MappingNetwork(MappingConfig(z_dim=8, x_dim=8, hidden=16)), {"model": tiny_registered})
    image = str(image_folder / "b.png")
    invert_cli.main([image, "--model", tiny_registered, "--steps", "4", "--mapping", str(theta), "--out", str(tmp_path / "s.png")])  # fmt: skip
    assert f"Θ from {theta}" in capsys.readouterr().out and (tmp_path / "s.png").is_file()
    wrong = tmp_path / "wrong.safetensors"
    save_mapping_file(wrong, MappingNetwork(MappingConfig(z_dim=4, x_dim=4, hidden=16)), {})
    with pytest.raises(SystemExit, match="Θ for inputs of size 4; this model takes 8"):
        invert_cli.main([image, "--model", tiny_registered, "--mapping", str(wrong), "--out", str(tmp_path / "w.png")])
