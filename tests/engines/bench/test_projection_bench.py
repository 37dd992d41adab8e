"""``python -m engines.bench projection`` end to end on a tiny registered model; the misaligned-set makers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from engines.bench import cli as bench
from engines.bench import make_set
from engines.bench import projection as projection_bench
from tests.engines.bench import test_cli

tiny_registered, image_folder = test_cli.tiny_registered, test_cli.image_folder  # fixtures: a tiny model, a folder

KEYS = {"model", "method", "transform", "space", "n", "budget", "evaluations", "seconds_per_image", "l1", "l2", "lpips"}


def run(model, folder, out, *extra):
    common = ["projection", "--model", model, "--data", str(folder), "--n", "2", "--budget", "96", "--seeds", "4"]
    bench.main([*common, "--seed", "0", "--json", str(out), *extra])
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    ("method", "transform", "space"), [("basincma", "spatial+color", "z"), ("adam", "none", "x"), ("cma", "color", "x")]
)
def test_projection_bench_json_interface(tiny_registered, image_folder, tmp_path, capsys, method, transform, space):
    args = [
        "--method",
        method,
        "--transform",
        transform,
        "--space",
        space,
        "--inner-steps",
        "4",
        "--final-members",
        "2",
    ]
    report = run(tiny_registered, image_folder, tmp_path / "out.json", *args)
    assert KEYS <= set(report)
    assert (report["method"], report["transform"], report["space"]) == (method, transform, space)
    assert report["n"] == 2 and report["budget"] == 96 and 0.75 * 96 <= report["evaluations"] <= 96
    for name in ("l1", "l2", "lpips"):
        assert set(report[name]) == {"mean_of_seeds", "best_of_seeds"}
        assert 0 <= report[name]["best_of_seeds"] <= report[name]["mean_of_seeds"]
    assert report["seconds_per_image"] > 0
    printed = capsys.readouterr().out
    assert "L1 mean/best" in printed and method in printed


def test_lpips_is_null_when_unavailable(tiny_registered, image_folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(projection_bench, "masked_lpips", lambda: None)
    report = run(tiny_registered, image_folder, tmp_path / "out.json", "--method", "adam")
    assert report["lpips"] is None and report["l1"]["best_of_seeds"] > 0
    assert "n/a" in capsys.readouterr().out


def test_misaligned_sets_are_shifted_scaled_and_dimmed():
    rng = np.random.default_rng(0)
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[8:20, 12:16] = 255
    images = [np.asarray(make_set.misaligned_digit(digit, rng)) for _ in range(6)]
    assert all(image.shape == (make_set.CANVAS, make_set.CANVAS) for image in images)
    assert all(0 < image.max() < 0.9 * 255 for image in images)  # dimmed, never blank
    centres = {tuple(np.argwhere(image > 0).mean(0).round()) for image in images}
    assert len(centres) > 1  # shifted
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 255, (109, 89, 3), dtype=np.uint8))
    sides = {make_set.misaligned_face(photo, rng).size for _ in range(6)}
    assert all(width == height and 66 <= width <= 107 for width, height in sides) and len(sides) > 1
