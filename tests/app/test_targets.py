"""Uploads for a face model can be aligned to the training crop (app.targets.load_target(align=True))."""

from __future__ import annotations

from PIL import Image

from app.targets import EDIT_SCALE, load_target
from tests.conftest import REPO_ROOT


def test_upload_is_aligned_on_request(tmp_path):
    face = Image.open(REPO_ROOT / "app" / "samples" / "face_008311.png").convert("RGB")
    upload = tmp_path / "upload.png"
    face.resize((200, 200)).rotate(12, resample=Image.Resampling.BICUBIC, fillcolor=(90, 90, 90)).save(upload)
    value, notice = load_target(str(upload), 64, align=True)
    assert "aligned" in notice and value["background"].size == (64 * EDIT_SCALE, 64 * EDIT_SCALE)
    plain_value, plain_notice = load_target(str(upload), 64)
    assert "aligned" not in plain_notice
    assert plain_value["background"].tobytes() != value["background"].tobytes()


def test_no_face_upload_says_so(tmp_path):
    upload = tmp_path / "wall.png"
    Image.new("RGB", (120, 90), (200, 180, 160)).save(upload)
    _value, notice = load_target(str(upload), 64, align=True)
    assert "no face found" in notice


def test_only_face_models_align():
    from app.targets import aligns_faces

    assert aligns_faces("faces64")
    assert not aligns_faces("digits")
