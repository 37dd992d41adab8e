"""``python -m engines.bench fidelity`` end to end on bundled faces at tiny n and steps."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from engines.bench import cli as bench
from engines.bench.fidelity import fidelity_figures
from tests.conftest import REPO_ROOT

KEYS = {"model", "n", "steps", "aligned", "final_loss", "final_lpips", "final_psnr", "retrieval_top1"}


@pytest.fixture
def face_folder(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    for name in ("face_008003", "face_008042", "face_008311"):
        shutil.copy(REPO_ROOT / "app" / "samples" / f"{name}.png", folder / f"{name}.png")
    return folder


@pytest.mark.parametrize("pipeline", ["full", "zx"])
def test_fidelity_bench_writes_exactly_the_keys(face_folder, tmp_path, capsys, pipeline):
    out = tmp_path / "fidelity.json"
    bench.main(["--threads", "1", "fidelity", "--data", str(face_folder), "--n", "3", "--steps", "4",
                "--pipeline", pipeline, "--json", str(out)])  # fmt: skip
    result = json.loads(out.read_text())
    assert set(result) == KEYS
    assert result["model"] == "faces64" and result["n"] == 3 and result["steps"] == 4 and result["aligned"] == 3
    assert 0 < result["final_lpips"] < result["final_loss"]
    assert 0 <= result["retrieval_top1"] <= 1 and result["final_psnr"] > 0
    assert "aligned 3" in capsys.readouterr().out


def test_fidelity_figures_on_known_images():
    torch.manual_seed(0)
    targets = torch.rand(3, 3, 64, 64) * 2 - 1
    perfect = fidelity_figures(targets.clone(), targets)
    assert perfect["final_loss"] < 1e-4 and perfect["retrieval_top1"] == 1.0
    swapped = fidelity_figures(targets[[1, 2, 0]], targets)
    assert swapped["retrieval_top1"] == 0.0
    noisy = fidelity_figures((targets + 0.1 * torch.randn_like(targets)).clamp(-1, 1), targets)
    assert 19 < noisy["final_psnr"] < 27  # 10·log10(4 / ~0.01)


def test_the_last_stage_refines_only_targets_with_a_face(face_folder, tmp_path, capsys):
    """A scene (no face in it) among the faces keeps Z→X for all steps, as the app's "Refine past the generator"."""
    from engines.bench.make_set import make_set

    (scene,) = make_set("scenes", tmp_path / "scene", count=1, seed=3)
    shutil.copy(scene, face_folder / "zz_scene.png")
    bench.main(["--threads", "1", "fidelity", "--data", str(face_folder), "--n", "4", "--steps", "4"])
    assert "last stage on 3 of 4 (a face found in the target; the rest: Z→X)" in capsys.readouterr().out
