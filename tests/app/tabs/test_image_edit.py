"""The Image tab's edit panel: direction sliders on a pane's latent, and the face put back into the uploaded photo."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from app.edits import PANE_LATENTS
from app.tabs.image_edit import FaceEditPanel, build_face_edit_panel
from engines.io.data import data_path
from engines.models.registry import available_models

pytestmark = pytest.mark.skipif("faces64" not in available_models("image"), reason="faces64 assets not present")


@pytest.fixture(scope="module")
def panel() -> FaceEditPanel:
    with gr.Blocks():
        return build_face_edit_panel()


def _amounts(**moves) -> list[float]:
    return [moves.get(f"pc{k + 1}", 0.0) for k in range(10)]


def _open(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_sliders_move_the_chosen_pane_and_need_a_run_first(panel):
    request = SimpleNamespace(session_hash="face-edit")
    assert "run an inversion first" in str(panel.edit("X", *_amounts(), request=request)[panel.status])
    latent = torch.randn(1, 128, generator=torch.Generator().manual_seed(0))
    PANE_LATENTS.put("face-edit", "faces64", {"X": latent, "Z": latent * 0, "Z→X": latent})
    still, moved = panel.edit("X", *_amounts(), request=request), panel.edit("X", *_amounts(pc1=3.0), request=request)
    assert "PC1 +3.0" in str(moved[panel.status])
    assert np.abs(_open(still[panel.edited]) - _open(moved[panel.edited])).mean() > 2  # the face changed
    assert np.array_equal(
        _open(still[panel.edited]), _open(panel.edit("Z→X", *_amounts(), request=request)[panel.edited])
    )


def test_put_back_fills_the_photo_at_its_own_size_and_only_around_the_face(panel, tmp_path):
    try:
        face = Image.open(data_path("celeba") / "008001.jpg").convert("RGB")
    except (FileNotFoundError, OSError):
        pytest.skip("CelebA not present")
    canvas = Image.new("RGB", (400, 300), (40, 90, 160))
    canvas.paste(face.resize((178, 218)), (40, 40))  # a face left of centre in a 400 x 300 photo
    path = tmp_path / "photo.png"
    canvas.save(path)
    request = SimpleNamespace(session_hash="face-put-back")
    latent = torch.randn(1, 128, generator=torch.Generator().manual_seed(1))
    PANE_LATENTS.put("face-put-back", "faces64", {"X": latent, "Z": latent, "Z→X": latent})
    assert "upload a photo first" in str(panel.put_back(None, True, "X", *_amounts(), request=request)[panel.status])
    update = panel.put_back(str(path), True, "X", *_amounts(pc2=2.0), request=request)
    assert "Put back into your photo (400×300)" in str(update[panel.status])
    result, original = _open(update[panel.photo]), np.asarray(canvas).astype(int)
    assert result.shape == original.shape
    changed = np.abs(result - original).sum(-1) > 0
    rows, cols = np.nonzero(changed)
    assert changed.sum() > 2000 and cols.max() < 240 and not changed[:, 260:].any()  # the face's side only
