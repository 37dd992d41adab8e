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


def _tight_crop(tmp_path) -> str:
    """A face photo cropped close (as UTKFace-like uploads are): the aligned crop reaches past its edges."""
    face = Image.open(REPO_ROOT / "app" / "samples" / "face_008311.png").convert("RGB")
    upload = tmp_path / "tight.png"
    face.crop((12, 14, 52, 58)).resize((160, 176), Image.Resampling.BICUBIC).save(upload)
    return str(upload)


def test_a_tight_crop_hides_what_lies_outside_the_photo(tmp_path):
    import numpy as np

    from app.targets import build_target, masked_view

    value, notice = load_target(_tight_crop(tmp_path), 64, align=True)
    assert "aligned" in notice and "lie outside the photo: unknown, so hidden from the loss" in notice
    count = int(notice.split(" of 4,096 pixels")[0].rsplit("· ", 1)[1].replace(",", ""))
    target = build_target(value, "none", 64)
    unknown = target.weight[0, 0] == 0
    assert int(unknown.sum()) == count and 0.15 < count / 4096 < 0.7
    assert not unknown[24:40, 24:40].any() and unknown[0, :].all()  # the face is known, the top row is not
    seen = np.asarray(masked_view(target), np.int16)
    hidden = seen[unknown.numpy()]
    assert set(np.unique(hidden)) <= {115, 153}  # the two greys of the checkerboard, never the photo's streaks


def test_transparent_pixels_of_an_rgba_upload_are_unknown(tmp_path):
    import numpy as np

    from app.targets import build_target

    face = np.asarray(Image.open(REPO_ROOT / "app" / "samples" / "face_008311.png").convert("RGBA")).copy()
    face[:, :16, 3] = 0  # the left quarter transparent
    upload = tmp_path / "cutout.png"
    Image.fromarray(face).save(upload)
    value, notice = load_target(str(upload), 64)
    assert "1,024 of 4,096 pixels (25%) are transparent" in notice
    weight = build_target(value, "none", 64).weight[0, 0]
    assert (weight[:, :16] == 0).all() and (weight[:, 16:] == 1).all()
    background = np.asarray(value["background"])[:, : 16 * EDIT_SCALE]
    assert (background != 255).all()  # not painted white


def test_the_ffhq_samples_come_in_their_own_crop_with_labels_saying_what_they_are():
    from app.tabs.image import FFHQ_SAMPLES, model_sample_choices
    from app.targets import sample_label

    choices = model_sample_choices("ffhq64")
    names = [name for _, name in choices]
    kinds = [name.partition("_")[0] for name in names]
    assert kinds == sorted(kinds, key=["face", "generated", "cat"].index)  # faces, then generated, then cats
    assert {"face_007019", "generated_seed0001", "cat_flickr_cat_000010"} <= set(names)
    assert all((FFHQ_SAMPLES / f"{name}.png").is_file() for name in names)
    assert sample_label("generated_seed0003") == "Generated face, seed 3 (the generator's own)"
    assert model_sample_choices("ffhq64-w") == choices and model_sample_choices("faces64") != choices
