"""MTCNN on bundled faces, and alignment of uploads to faces64's training crop."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engines.io.images import center_crop_resize, image_to_tensor
from engines.models.faces.align import REFERENCE_LANDMARKS, align_face, similarity_transform
from engines.models.faces.mtcnn import load_mtcnn
from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "app" / "samples" / "face_008311.png"  # a held-out CelebA face in the training crop


@pytest.fixture(scope="module")
def sample() -> Image.Image:
    with Image.open(SAMPLE) as opened:
        return opened.convert("RGB")


def test_mtcnn_finds_the_bundled_face_where_the_reference_says(sample):
    detections = load_mtcnn().detect(np.asarray(sample))
    assert len(detections) == 1 and float(detections.scores[0]) > 0.9
    error = np.abs(detections.landmarks[0].numpy() - REFERENCE_LANDMARKS)
    assert error[:2].max() < 1.5  # the eyes
    assert error.max() < 3.5


def test_similarity_transform_recovers_a_known_one():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 64, size=(5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([4.0, -9.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = points @ (scale * rotation).T + shift
    np.testing.assert_allclose(
        similarity_transform(points, moved), np.hstack([scale * rotation, shift[:, None]]), atol=1e-9
    )
    weighted = similarity_transform(points, moved, np.array([3.0, 3.0, 0.3, 1.0, 1.0]))
    np.testing.assert_allclose(weighted, np.hstack([scale * rotation, shift[:, None]]), atol=1e-9)


def warp(image: Image.Image, *, degrees: float, scale: float, shift: tuple[float, float], size: int) -> Image.Image:
    """``image`` rotated, scaled and shifted about its centre onto a ``size`` canvas (edges replicated)."""
    array = np.asarray(image)
    margin = array.shape[0]
    padded = Image.fromarray(np.pad(array, ((margin, margin), (margin, margin), (0, 0)), mode="edge"))
    angle = np.deg2rad(degrees)
    linear = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]]) / scale
    centre = np.array(image.size) / 2 + margin
    offset = centre - linear @ (np.array([size / 2, size / 2]) + np.array(shift))
    coefficients = (*linear[0], offset[0], *linear[1], offset[1])
    return padded.transform((size, size), Image.Transform.AFFINE, coefficients, Image.Resampling.BICUBIC)


def test_alignment_undoes_a_known_warp(sample):
    large = sample.resize((256, 256), Image.Resampling.BICUBIC)
    warped = warp(large, degrees=13.0, scale=0.8, shift=(30.0, -20.0), size=256)
    aligned, info = align_face(warped)
    assert info.aligned and aligned.size == (64, 64)
    truth = image_to_tensor(sample)
    aligned_error = float((image_to_tensor(aligned) - truth).square().mean())
    unaligned_error = float((image_to_tensor(center_crop_resize(warped, 64)[0]) - truth).square().mean())
    assert aligned_error < 0.05
    assert aligned_error < 0.25 * unaligned_error


def test_no_face_gives_the_centre_crop_and_says_so():
    blank = Image.new("RGB", (100, 80), (128, 128, 128))
    image, info = align_face(blank)
    assert not info.aligned and info.notice.startswith("no face found")
    assert image.size == (64, 64)


def test_outside_share_marks_the_crop_beyond_the_photo():
    from engines.models.faces.align import outside_share

    # landmarks where the reference puts them in a 64×64 photo: the crop is the photo itself, nothing outside
    assert outside_share((64, 64), REFERENCE_LANDMARKS).max() == 0.0
    # the same face in a photo cut 16 px short on the left: the crop's left quarter lies outside
    share = outside_share((48, 64), REFERENCE_LANDMARKS - [16.0, 0.0])
    assert (share[:, :16] == 1.0).all() and (share[:, 16:] == 0.0).all()


def test_a_tight_crop_reports_what_lies_outside(sample):
    tight = sample.crop((12, 14, 52, 58)).resize((160, 176), Image.Resampling.BICUBIC)
    _aligned, info = align_face(tight)
    assert info.aligned and info.outside.shape == (64, 64)
    assert 0.15 < float((info.outside >= 0.3).mean()) < 0.7
    assert info.outside[24:40, 24:40].max() == 0.0


def test_no_face_in_an_image_of_the_crops_size_says_it_was_used_as_it_is():
    _image, info = align_face(Image.new("RGB", (64, 64), (128, 128, 128)))
    assert info.notice == "no face found: used it as it is (64×64)"
