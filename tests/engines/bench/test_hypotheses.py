"""The hypotheses benchmark: K random starts on masked images, run end to end on a tiny registered model."""

from __future__ import annotations

import json

import pytest
import torch

from engines.bench import cli as bench
from engines.bench.hypotheses import hidden_errors, hypothesis_figures
from engines.io.masks import preset_known
from tests.engines.bench.test_cli import image_folder, tiny_registered  # noqa: F401 (fixtures)

KEYS = {"x_visible_loss", "z_visible_loss", "x_hidden_diversity", "z_hidden_diversity", "model", "loss", "n", "k"}
KEYS |= {"zx_visible_loss", "zx_hidden_diversity", "handoff_step"}
KEYS |= {f"{space}_hidden_error_{kind}" for space in ("x", "z", "zx") for kind in ("best", "mean")}


def _bench(model: str, folder, out, *extra: str) -> dict:
    arguments = ["hypotheses", "--model", model, "--data", str(folder), "--n", "2", "--k", "3", "--steps", "15"]
    bench.main([*arguments, "--seed", "0", "--json", str(out), *extra])
    return json.loads(out.read_text())


@pytest.mark.parametrize("mask", ["mouth", "left", "centre"])
def test_hypotheses_bench_json_interface(tiny_registered, image_folder, tmp_path, capsys, mask):  # noqa: F811
    result = _bench(tiny_registered, image_folder, tmp_path / "out.json", "--mask", mask)
    assert KEYS <= set(result)
    assert result["n"] == 2 and result["k"] == 3 and result["mask"] == mask and result["steps"] == 15
    for space in ("x", "z", "zx"):
        assert result[f"{space}_visible_loss"] > 0
        assert 0 < result[f"{space}_hidden_diversity"] <= 1  # random starts differ where nothing is known
        assert 0 < result[f"{space}_hidden_error_best"] <= result[f"{space}_hidden_error_mean"]
    assert "hidden diversity" in capsys.readouterr().out


def test_hypotheses_bench_is_repeatable_with_a_seed(tiny_registered, image_folder, tmp_path):  # noqa: F811
    first = _bench(tiny_registered, image_folder, tmp_path / "a.json", "--mask", "mouth")
    second = _bench(tiny_registered, image_folder, tmp_path / "b.json", "--mask", "mouth")
    assert first == second


def test_hypotheses_bench_rejects_unknown_mask(tiny_registered, image_folder, tmp_path):  # noqa: F811
    with pytest.raises(SystemExit):
        _bench(tiny_registered, image_folder, tmp_path / "out.json", "--mask", "nose")


def test_hypothesis_figures_best_of_k_and_hidden_spread():
    known = preset_known("left", 4)  # columns 0-1 hidden
    base = torch.zeros(2, 1, 3, 4, 4)
    offsets = torch.tensor([-0.5, 0.5, -0.5, 0.5]).view(2, 2, 1, 1, 1)  # 2 targets x K=2
    outputs = (base + offsets * (1 - known)).reshape(4, 3, 4, 4)  # hypotheses differ only where hidden
    losses = torch.tensor([0.3, 0.1, 0.2, 0.4])
    visible, diversity = hypothesis_figures(losses, outputs, known, k=2)
    assert visible == pytest.approx((0.1 + 0.2) / 2)
    assert diversity == pytest.approx(0.5)  # population std of {-0.5, 0.5}
    _, none = hypothesis_figures(losses, torch.zeros(4, 3, 4, 4), known, k=2)
    assert none == 0


def test_mapping_flag_swaps_theta_for_both_benchmarks(tiny_registered, image_folder, tmp_path):  # noqa: F811
    from engines.core.mapping import MappingConfig, MappingNetwork
    from engines.io.checkpoint import save_tensors

    torch.manual_seed(7)
    theta = MappingNetwork(MappingConfig(z_dim=8, x_dim=8, hidden=16))
    path = tmp_path / "theta.safetensors"
    save_tensors(path, dict(theta.state_dict()), {"kind": "mapping", "mapping": theta.config.to_dict()})
    shipped = _bench(tiny_registered, image_folder, tmp_path / "a.json", "--mask", "mouth")
    swapped = _bench(tiny_registered, image_folder, tmp_path / "b.json", "--mask", "mouth", "--mapping", str(path))
    assert shipped["mapping"] == "shipped" and swapped["mapping"] == str(path)
    assert shipped["x_visible_loss"] == swapped["x_visible_loss"]  # X-space does not use Θ
    assert shipped["z_visible_loss"] != swapped["z_visible_loss"]
    out = tmp_path / "inversion.json"
    arguments = ["inversion", "--model", tiny_registered, "--data", str(image_folder), "--n", "2", "--steps", "3"]
    bench.main([*arguments, "--mapping", str(path), "--json", str(out)])
    assert json.loads(out.read_text())["mapping"] == str(path)


def test_hidden_errors_score_the_hidden_pixels_against_the_original():
    known = preset_known("left", 4)  # columns 0-1 hidden
    target = torch.rand(1, 3, 4, 4) * 2 - 1
    copy = target.clone()
    wrong_hidden = target + 0.5 * (1 - known)  # fits every known pixel, misses each hidden one by 0.5
    wrong_visible = target + 0.5 * known  # a control that gets the hidden part right and the rest wrong
    best, mean = hidden_errors(torch.cat([wrong_hidden, copy]), target, known, k=2)
    assert best == pytest.approx(0.0, abs=1e-12) and mean == pytest.approx(0.25 / 2)
    best, mean = hidden_errors(torch.cat([wrong_hidden, wrong_visible]), target, known, k=2)
    assert best == pytest.approx(0.0, abs=1e-12)  # only the hidden pixels count
    best, _ = hidden_errors(torch.cat([wrong_hidden, wrong_hidden]), target, known, k=2)
    assert best == pytest.approx(0.25)
    with pytest.raises(ValueError, match="hides nothing"):
        hidden_errors(copy, target, torch.ones(4, 4), k=1)
