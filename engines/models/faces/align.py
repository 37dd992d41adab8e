"""Face alignment of uploads to the crop a face model was trained on.

Two crops (``crop=``):

- ``"celeba"`` (faces64): MTCNN's five landmarks (:mod:`engines.models.faces.mtcnn`) are mapped by the
  least-squares similarity transform (rotation, uniform scale, shift) onto :data:`REFERENCE_LANDMARKS`, where
  those landmarks sit on average in the 64×64 training crop (the centre square of a CelebA photo).
- ``"ffhq"`` (the FFHQ models): the rule of NVlabs/ffhq-dataset's alignment, from the eyes and the mouth
  corners: an oriented square centred a tenth of the way from the eyes' midpoint to the mouth's, its side the
  larger of 4 × the eye distance and 3.6 × the eye-to-mouth distance, turned so the eyes are level.

No face found: the centre crop as before, with a notice saying so.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image

from engines.io.images import center_crop_resize, to_rgb

# Mean MTCNN landmarks (x, y) of CelebA training faces 000001–002000 in their 64×64 centre crops
# (left eye, right eye, nose, left and right mouth corner); made by
# ``PYTHONPATH=. python scripts/face_reference.py --first 1 --count 2000`` (1997 of 2000 found; spread
# 0.5–0.7 px for the eyes, 1–2 px for nose and mouth).
REFERENCE_LANDMARKS = np.array([[25.05, 33.01], [39.06, 33.00], [31.79, 41.60], [25.75, 47.93], [38.25, 47.89]])
# How much each landmark counts in the fit: 1 / its variance over those faces (eyes 0.3 px², nose 3.6,
# mouth 0.95), so the eyes fix the crop and a turned nose moves it little.
LANDMARK_WEIGHTS = np.array([3.0, 3.0, 0.3, 1.0, 1.0])
SIZE = 64
SUPERSAMPLE = 4  # warp at 4× the crop size, then downsample (antialiased)
MIN_FACE_SHARE = 0.1  # faces narrower than a tenth of the photo's shorter side are not searched for
DETECT_SIDE = 640  # larger uploads are searched at this longer side (landmarks scaled back)


@dataclass(frozen=True)
class AlignInfo:
    """What :func:`align_face` did: ``aligned`` (a face was found and warped), the detector's ``score``,
    the ``landmarks`` (5 x 2, pixels of the input), a ``notice`` for the user and ``outside`` (``size x size``,
    the share of each crop pixel that lies outside the photo: edge-replicated there, so unknown; None when
    not aligned)."""

    aligned: bool
    notice: str
    score: float | None = None
    landmarks: np.ndarray | None = None
    outside: np.ndarray | None = None


@functools.cache
def face_detector():
    """The shipped MTCNN, loaded once per process (alignment and the app's out-of-domain check share it)."""
    from engines.models.faces.mtcnn import load_mtcnn

    return load_mtcnn()


def similarity_transform(source: np.ndarray, destination: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The 2 x 3 similarity ``[sR | t]`` that maps ``source`` points (``N x 2``) closest to ``destination``
    in (weighted) least squares (Umeyama 1991, no reflection)."""
    weights = np.ones(len(source)) if weights is None else np.asarray(weights, dtype=np.float64)
    weights = weights / weights.sum()
    source_mean, destination_mean = weights @ source, weights @ destination
    centred_source, centred_destination = source - source_mean, destination - destination_mean
    covariance = (centred_destination * weights[:, None]).T @ centred_source
    left, singular, right = np.linalg.svd(covariance)
    sign = np.diag([1.0, np.sign(np.linalg.det(left @ right))])
    rotation = left @ sign @ right
    scale = (singular * np.diag(sign)).sum() / (weights @ (centred_source**2).sum(1))
    shift = destination_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, shift[:, None]])


CROPS = ("celeba", "ffhq")
UNKNOWN_SHARE = 0.5  # an aligned crop's pixel mostly outside the photo is unknown (benches and FFHQ targets)


def ffhq_crop(landmarks: np.ndarray, side: float) -> np.ndarray:
    """The 2 x 3 map from the pixels of a ``side`` × ``side`` FFHQ crop to the photo's, from MTCNN's five
    landmarks (``5 x 2``: eyes, nose, mouth corners), by NVlabs/ffhq-dataset's rule (the nose is not used)."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    eye_left, eye_right, mouth_left, mouth_right = landmarks[0], landmarks[1], landmarks[3], landmarks[4]
    eye_middle = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = (mouth_left + mouth_right) / 2 - eye_middle
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    x = x / np.hypot(*x) * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.array([-x[1], x[0]])
    centre = eye_middle + eye_to_mouth * 0.1
    corner = centre - x - y
    return np.column_stack([2 * x / side, 2 * y / side, corner])


def crop_map(landmarks: np.ndarray, side: float, crop: str = "celeba") -> np.ndarray:
    """The 2 x 3 map from the pixels of a ``side`` × ``side`` aligned crop of kind ``crop`` to the photo's."""
    if crop == "ffhq":
        return ffhq_crop(landmarks, side)
    if crop != "celeba":
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    return similarity_transform(REFERENCE_LANDMARKS * (side / SIZE), np.asarray(landmarks, float), LANDMARK_WEIGHTS)


def _output_to_input(landmarks: np.ndarray, size: int, crop: str = "celeba") -> np.ndarray:
    """The 2 x 3 map from the supersampled crop's pixels to the photo's that puts ``landmarks`` on the
    reference (PIL's transform wants this direction: reference -> landmarks)."""
    return crop_map(landmarks, size * SUPERSAMPLE, crop)


def outside_share(
    photo_size: tuple[int, int], landmarks: np.ndarray, size: int = SIZE, crop: str = "celeba"
) -> np.ndarray:
    """``size x size`` in [0, 1]: the share of each pixel of the aligned crop (:func:`warp_to_reference`) that
    comes from outside a photo of ``photo_size`` (width, height), measured at the warp's supersampling."""
    work = size * SUPERSAMPLE
    centres = np.arange(work, dtype=np.float64) + 0.5
    columns, rows = np.meshgrid(centres, centres)
    output_to_input = _output_to_input(landmarks, size, crop)
    x = output_to_input[0, 0] * columns + output_to_input[0, 1] * rows + output_to_input[0, 2]
    y = output_to_input[1, 0] * columns + output_to_input[1, 1] * rows + output_to_input[1, 2]
    outside = (x < 0) | (x > photo_size[0]) | (y < 0) | (y > photo_size[1])
    return outside.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE).mean(axis=(1, 3))


def warp_to_reference(image: Image.Image, landmarks: np.ndarray, size: int = SIZE, crop: str = "celeba") -> Image.Image:
    """The ``size`` × ``size`` crop of ``image`` (any PIL mode: RGB, or an alpha channel as L) whose
    ``landmarks`` (5 x 2 pixels) land on the reference (edges replicated where the crop leaves the photo:
    :func:`outside_share` says where)."""
    work = size * SUPERSAMPLE
    output_to_input = _output_to_input(landmarks, size, crop)
    corners = np.array([[0, 0, 1], [work, 0, 1], [0, work, 1], [work, work, 1]], dtype=np.float64)
    reached = corners @ output_to_input.T
    low, high = np.floor(reached.min(0)).astype(int) - 2, np.ceil(reached.max(0)).astype(int) + 2
    array = np.asarray(image)
    rows = np.clip(np.arange(low[1], high[1]), 0, array.shape[0] - 1)  # clipping indices replicates edges
    columns = np.clip(np.arange(low[0], high[0]), 0, array.shape[1] - 1)
    region = Image.fromarray(np.ascontiguousarray(array[rows][:, columns]))
    output_to_input[:, 2] -= low
    warped = region.transform((work, work), Image.Transform.AFFINE, output_to_input.ravel(), Image.Resampling.BICUBIC)
    return warped.resize((size, size), Image.Resampling.LANCZOS)


def align_face(image: Image.Image, size: int = SIZE, crop: str = "celeba") -> tuple[Image.Image, AlignInfo]:
    """(the aligned ``size`` × ``size`` RGB face, what was done), in the ``crop`` of :data:`CROPS`. The
    largest face MTCNN finds is used; none found -> the centre crop, resized, and a notice."""
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    image = to_rgb(image)
    shrink = min(1.0, DETECT_SIDE / max(image.size))
    searched = (
        image
        if shrink == 1.0
        else image.resize(
            (max(1, round(image.width * shrink)), max(1, round(image.height * shrink))), Image.Resampling.BILINEAR
        )
    )
    detections = face_detector().detect(np.asarray(searched), min_face=max(20.0, MIN_FACE_SHARE * min(searched.size)))
    if not len(detections):
        crop, how = center_crop_resize(image, size)
        used = f"used it as it is ({size}×{size})" if image.size == (size, size) else f"used the centre crop ({how})"
        return crop, AlignInfo(aligned=False, notice=f"no face found: {used}")
    sides = (detections.boxes[:, 2:] - detections.boxes[:, :2]).prod(dim=1)
    best = int(sides.argmax())
    back = np.array([image.width / searched.width, image.height / searched.height])
    landmarks = detections.landmarks[best].double().numpy() * back
    score = float(detections.scores[best])
    faces = f" (largest of {len(detections)} faces)" if len(detections) > 1 else ""
    how = "the FFHQ crop by its eyes and mouth" if crop == "ffhq" else "the training crop by its eyes, nose and mouth"
    notice = f"face aligned to {how}{faces}; detector score {score:.2f}"
    outside = outside_share(image.size, landmarks, size, crop)
    return warp_to_reference(image, landmarks, size, crop), AlignInfo(
        aligned=True, notice=notice, score=score, landmarks=landmarks, outside=outside
    )


def crop_to_photo(
    photo_size: tuple[int, int], landmarks: np.ndarray | None, size: int = SIZE, crop: str = "celeba"
) -> np.ndarray:
    """The 2 x 3 affine map from ``size`` × ``size`` crop pixels to the photo's pixels (``photo_size`` = (width,
    height)) for the crop :func:`align_face` made: the landmarks' similarity when a face was aligned
    (``landmarks`` 5 x 2), else the centre square of :func:`~engines.io.images.center_crop_resize`."""
    if landmarks is not None:
        return crop_map(landmarks, size, crop)
    width, height = photo_size
    side = min(width, height)
    scale = side / size
    return np.array([[scale, 0.0, (width - side) // 2], [0.0, scale, (height - side) // 2]])
