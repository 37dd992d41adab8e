"""The out-of-domain notice: the face detector on the target, then the final loss against training faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from app.domain import domain_notice, face_found, target_has_face
from engines.io.images import prepare_image

SAMPLES = Path(__file__).resolve().parents[2] / "app" / "samples"


def church() -> torch.Tensor:
    """A 3 x 64 x 64 church-like scene in [-1, 1]: sky gradient, a dark nave and tower, grey ground."""
    image = np.zeros((64, 64, 3))
    image[:] = np.linspace(0.9, 0.5, 64)[:, None, None] * np.array([0.7, 0.8, 1.0])
    image[30:, 14:46] = (0.35, 0.3, 0.28)
    image[8:, 20:28] = (0.3, 0.27, 0.25)
    image[4:8, 23:25] = (0.2, 0.2, 0.2)  # the cross
    image[40:52, 32:38] = (0.1, 0.1, 0.12)  # the door
    image[56:] = (0.4, 0.42, 0.38)
    return torch.from_numpy(image).permute(2, 0, 1).float() * 2 - 1


def test_the_detector_finds_the_bundled_faces_and_no_church_or_cat():
    assert all(face_found(prepare_image(path, 64).tensor) for path in sorted(SAMPLES.glob("face_*.png")))
    assert not any(face_found(prepare_image(path, 64).tensor) for path in sorted(SAMPLES.glob("cat_*.png")))
    assert not face_found(church()) and not face_found(church()[None])


def test_no_face_is_flagged_even_when_the_loss_is_low():
    notice = domain_notice("faces64", "mse+lpips", 200, 0.202, 0.210, face=False)  # the church photo's losses
    assert notice.startswith("⚠ This does not look like a face: the face detector finds none") and "0.202" in notice
    assert "does not look like a face" in domain_notice("faces64", "mse", 8, 0.05, 0.06, face=False)
    assert domain_notice("faces64", "mse+lpips", 200, 0.13, 0.15, face=True) == ""  # a face, an ordinary loss
    assert "far from what faces64 knows" in domain_notice("faces64", "mse+lpips", 200, 0.6, 0.5, face=True)
    assert domain_notice("faces64", "mse+lpips", 200, 0.13, 0.15, face=None) == ""  # not judged: the loss decides
    assert domain_notice("digits", "mse+lpips", 200, 0.13, 0.15, face=False) == ""  # no face model


def test_the_detector_judges_only_face_models_and_unmasked_targets():
    known, masked = torch.ones(1, 1, 64, 64), torch.ones(1, 1, 64, 64)
    masked[..., 20:40, 20:40] = 0
    assert target_has_face("faces64", church()[None], known) is False
    face = prepare_image(SAMPLES / "face_008311.png", 64).tensor[None]
    assert target_has_face("faces64", face, known) is True
    assert target_has_face("faces64", church()[None], masked) is None  # the mask may hide the face
    assert target_has_face("digits", church()[None], known) is None


def test_a_digit_model_says_when_an_image_is_no_digit():
    from PIL import Image

    from app.domain import digit_notice
    from app.targets import SAMPLES_DIR, load_target

    face = Image.open(SAMPLES_DIR / "face_008003.png")
    assert "does not look like a handwritten digit (in colour" in digit_notice(face, "digits")
    assert digit_notice(face, "faces64") == ""  # not a digit model: not judged here
    for path in sorted((SAMPLES_DIR / "mnist").glob("*.png")):
        assert digit_notice(Image.open(path), "mnist-classifier") == "", path
    _value, notice = load_target(SAMPLES_DIR / "face_008003.png", 28, model="digits")
    assert "does not look like a handwritten digit" in notice
