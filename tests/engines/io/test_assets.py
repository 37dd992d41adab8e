"""The shipped faces64 assets: listed in the manifest, loadable, and useful on a held-out face."""

from __future__ import annotations

import torch

from engines.core.optim import invert
from engines.io.checkpoint import ASSETS_DIR, read_manifest, resolve_asset, sha256
from engines.models.registry import available_models, load_mapping, load_model
from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "app" / "samples" / "face_008003.png"


def test_manifest_lists_every_shipped_weight_with_its_provenance():
    manifest = read_manifest()
    for path in ASSETS_DIR.glob("*.safetensors"):
        entry = next((e for e in manifest.values() if e["file"] == path.name), None)
        assert entry is not None, f"{path.name} is not in assets/manifest.json"
        assert entry["sha256"] == sha256(path)
        assert entry["command"].startswith("python -m engines.train")
        assert entry["licence"] and entry["data"]
        assert (ASSETS_DIR / entry["config"]).is_file()


def test_faces64_generator_and_mapping_load():
    assert "faces64" in available_models("image")
    forward, mapping = load_model("faces64"), load_mapping("faces64")
    assert forward.input_dim == 128 and forward.output_shape == (3, 64, 64)
    with torch.no_grad():
        images = forward(mapping(torch.zeros(2, mapping.z_dim)))
    assert images.shape == (2, 3, 64, 64) and images.abs().max() <= 1
    assert resolve_asset("faces64_mapping").is_file()


def test_z_space_is_ahead_of_x_space_early_on_a_held_out_face():
    forward, mapping = load_model("faces64"), load_mapping("faces64")
    target, _ = forward.prepare_target(SAMPLE)
    x_steps = [float(step.losses[0]) for step in invert(forward, target[None], lr=0.05, steps=10, keep_output=False)]
    z_steps = [
        float(step.losses[0])
        for step in invert(forward, target[None], mapping=mapping, lr=0.1, steps=10, keep_output=False)
    ]
    assert z_steps[-1] < z_steps[0] and x_steps[-1] < x_steps[0]
    assert z_steps[10] < x_steps[10]
