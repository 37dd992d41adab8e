"""The benchmark and inversion command lines, run end to end on a tiny registered model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from engines import invert as invert_cli
from engines.bench import cli as bench
from engines.core.mapping import MappingConfig, MappingNetwork
from engines.models.registry import ModelSpec, load_mapping, load_model, register_model
from tests.conftest import TinyImageModel


class TinyFaces(TinyImageModel):
    def prepare_target(self, source):
        from engines.io.images import prepare_image

        prepared = prepare_image(source, 8)
        return prepared.tensor, prepared.notice


@pytest.fixture(scope="module")
def tiny_registered():
    def load():
        torch.manual_seed(0)
        return TinyFaces()

    def load_theta():
        torch.manual_seed(1)
        return MappingNetwork(MappingConfig(z_dim=8, x_dim=8, hidden=16))

    register_model(
        ModelSpec(name="tiny-test", description="test", output_kind="image", load=load, load_mapping=load_theta)
    )
    yield "tiny-test"
    load_model.cache_clear()
    load_mapping.cache_clear()


@pytest.fixture
def image_folder(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (30, 50, 3), dtype=np.uint8)).save(tmp_path / "b.png")
    Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(tmp_path / "a.jpg")
    Image.fromarray(rng.integers(0, 65535, (9, 12), dtype=np.uint16)).save(tmp_path / "c.png")
    Image.fromarray(rng.integers(0, 255, (16, 16, 4), dtype=np.uint8), mode="RGBA").save(tmp_path / "d.png")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_inversion_bench_json_interface(tiny_registered, image_folder, tmp_path, capsys):
    out = tmp_path / "out.json"
    bench.main(
        [
            "inversion",
            "--model",
            tiny_registered,
            "--data",
            str(image_folder),
            "--n",
            "3",
            "--steps",
            "20",
            "--optimizer",
            "adam",
            "--seed",
            "0",
            "--json",
            str(out),
        ]
    )
    result = json.loads(out.read_text())
    expected = {
        "model",
        "optimizer",
        "loss",
        "n",
        "steps",
        "x_loss",
        "z_loss",
        "x_seconds_per_step",
        "z_seconds_per_step",
        "x_lr",
        "z_lr",
        "zx_loss",
        "handoff_step",
    }
    assert expected <= set(result)
    assert len(result["zx_loss"]) == 21 and result["handoff_step"] >= 0
    assert len(result["zx_final_items"]) == 3 and result["x_final_items"][0] > 0
    assert result["zx_loss"][: result["handoff_step"] + 1] == pytest.approx(
        result["z_loss"][: result["handoff_step"] + 1]
    )
    assert result["n"] == 3 and result["steps"] == 20 and result["loss"] in ("mse", "mse+lpips")
    assert len(result["x_loss"]) == len(result["z_loss"]) == 21
    assert result["x_loss"][20] < result["x_loss"][0]
    assert result["x_seconds_per_step"] > 0 and result["z_seconds_per_step"] > 0
    printed = capsys.readouterr().out
    assert "z_loss[2]" in printed and "seconds per step" in printed and "Z→X (hand-off at" in printed
    assert "Z→X below X on" in printed


def test_inversion_bench_handoff_flag(tiny_registered, image_folder, tmp_path):
    out = tmp_path / "out.json"
    arguments = ["inversion", "--model", tiny_registered, "--data", str(image_folder), "--n", "2", "--steps", "12"]
    bench.main([*arguments, "--handoff", "3", "--handoff-lr", "0.05", "--json", str(out)])
    result = json.loads(out.read_text())
    assert result["handoff_step"] == 3 and result["handoff_lr"] == 0.05
    assert result["zx_loss"][:4] == pytest.approx(result["z_loss"][:4])
    assert result["zx_loss"][12] != pytest.approx(result["z_loss"][12])  # X-space steps after the hand-off


def test_defaults_command_picks_from_the_grid_and_writes_beside_theta(
    tiny_registered, image_folder, tmp_path, monkeypatch
):
    from engines.core import evaluation

    monkeypatch.setattr(evaluation, "defaults_path", lambda model: tmp_path / f"{model}_defaults.json")
    monkeypatch.setattr("engines.bench.defaults.defaults_path", evaluation.defaults_path)
    out = tmp_path / "out.json"
    arguments = ["defaults", "--model", tiny_registered, "--data", str(image_folder), "--n", "2", "--steps", "8"]
    bench.main([*arguments, "--write", "--json", str(out)])
    result = json.loads(out.read_text())
    chosen, sweeps = result["chosen"], result["sweeps"]
    for name in ("x_lr", "z_lr", "handoff_lr"):
        assert chosen[name] in evaluation.LR_GRID
        assert sweeps[name][str(chosen[name])] == min(sweeps[name].values())
    assert chosen["handoff"] in evaluation.HANDOFF_GRID
    assert sweeps["handoff"][str(chosen["handoff"])] <= min(sweeps["handoff"].values()) * 1.005
    evaluation._read_defaults.cache_clear()
    try:
        saved = evaluation.inversion_defaults(tiny_registered, "adam")
        assert (saved.x_lr, saved.z_lr, saved.handoff, saved.handoff_lr) == tuple(
            chosen[name] for name in ("x_lr", "z_lr", "handoff", "handoff_lr")
        )
        assert evaluation.inversion_defaults(tiny_registered, "sgd").chosen_on == "unswept fallback"
    finally:
        evaluation._read_defaults.cache_clear()


def test_defaults_for_x_alone_need_no_theta_and_say_the_rest_are_fallbacks(
    tiny_registered, image_folder, tmp_path, monkeypatch
):
    from engines.core import evaluation

    monkeypatch.setattr(evaluation, "defaults_path", lambda model: tmp_path / f"{model}_defaults.json")
    monkeypatch.setattr("engines.bench.defaults.defaults_path", evaluation.defaults_path)
    monkeypatch.setattr("engines.models.registry.load_mapping", lambda *a, **k: pytest.fail("X alone loads no Θ"))
    out = tmp_path / "out.json"
    arguments = ["defaults", "--model", tiny_registered, "--data", str(image_folder), "--n", "2", "--steps", "8"]
    bench.main([*arguments, "--spaces", "x", "--write", "--json", str(out)])
    result = json.loads(out.read_text())
    assert set(result["sweeps"]) == {"x_lr"} and result["chosen"]["x_lr"] in evaluation.LR_GRID
    assert result["sweeps"]["x_lr"][str(result["chosen"]["x_lr"])] == min(result["sweeps"]["x_lr"].values())
    evaluation._read_defaults.cache_clear()
    try:
        saved = evaluation.inversion_defaults(tiny_registered, "adam")
        assert saved.x_lr == result["chosen"]["x_lr"] and saved.handoff == evaluation.FALLBACK_HANDOFF
        assert "fallbacks (no Θ yet)" in saved.chosen_on
    finally:
        evaluation._read_defaults.cache_clear()


def test_inversion_bench_sweep_picks_best_lr(tiny_registered, image_folder, tmp_path):
    out = tmp_path / "out.json"
    bench.main(
        [
            "inversion",
            "--model",
            tiny_registered,
            "--data",
            str(image_folder),
            "--n",
            "2",
            "--steps",
            "10",
            "--sweep-x-lr",
            "--json",
            str(out),
        ]
    )
    result = json.loads(out.read_text())
    sweep = {float(k): v for k, v in result["x_lr_sweep"].items()}
    assert result["x_lr"] == min(sweep, key=sweep.get)
    assert abs(result["x_loss"][10] - sweep[result["x_lr"]]) < 1e-6


def test_invert_cli_writes_strip(tiny_registered, image_folder, tmp_path):
    out = tmp_path / "strip.png"
    invert_cli.main(
        [str(image_folder / "b.png"), "--model", tiny_registered, "--steps", "10", "--frames", "5", "--out", str(out)]
    )
    strip = Image.open(out)
    assert strip.height == 3 * (16 + 14)  # X, Z and Z→X rows, frames upscaled 2x plus captions
    assert strip.width == 16 * (1 + len(invert_cli.strip_steps(10, 5)))


def test_invert_cli_rejects_non_image(tiny_registered, image_folder, tmp_path):
    with pytest.raises(SystemExit, match="not a readable image"):
        invert_cli.main([str(image_folder / "notes.txt"), "--model", tiny_registered, "--out", str(tmp_path / "x.png")])


def test_device_flag_runs_on_cpu_and_a_missing_gpu_is_a_clear_error(tiny_registered, image_folder, tmp_path):
    out = tmp_path / "cpu.json"
    common = ["inversion", "--model", tiny_registered, "--data", str(image_folder), "--n", "2", "--steps", "3"]
    bench.main([*common, "--device", "cpu", "--json", str(out)])
    assert json.loads(out.read_text())["device"] == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="no CUDA GPU is visible"):
            bench.main([*common, "--device", "cuda"])


def test_a_model_without_theta_benches_with_a_random_one_and_says_so(image_folder, tmp_path, capsys):
    from engines.models.registry import MODELS

    register_model(ModelSpec(name="tiny-no-theta", description="test", output_kind="image", load=lambda: TinyFaces()))
    try:
        out = tmp_path / "out.json"
        arguments = ["inversion", "--model", "tiny-no-theta", "--data", str(image_folder), "--n", "2", "--steps", "6"]
        bench.main([*arguments, "--json", str(out)])
        assert "no trained Θ for tiny-no-theta" in capsys.readouterr().out
        fallback = json.loads(out.read_text())
        bench.main([*arguments, "--mapping", "random", "--json", str(out)])  # the same seeded Θ, asked for
        assert json.loads(out.read_text())["z_loss"] == pytest.approx(fallback["z_loss"])
        assert fallback["z_loss"][6] < fallback["z_loss"][0]
    finally:
        MODELS.pop("tiny-no-theta")
        load_model.cache_clear()
