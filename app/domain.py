"""Says plainly when a target is far from what the face model knows, from the loss a run ends at.

The threshold is measured on CelebA *training* faces (1-8000; the held-out 8001-9000 were not used):
``PYTHONPATH=. python scripts/domain_threshold.py --n 32`` inverts 32 of them, evenly spaced, for 200
Adam steps with the app's default objective (MSE + LPIPS) and learning rates. Final losses: median
X 0.110 / Z 0.121, 90th percentile X 0.166 / Z 0.204, 99th percentile X 0.276 / Z 0.274, highest X 0.285 /
Z 0.282. For comparison, the bundled cats end at 0.247 and 0.250 (best of X and Z), a held-out face at 0.134.

The loss alone misses targets that a face generator reproduces well although they are no face (a church
photo ended at X 0.202, just under the 0.204 line). So a second, independent signal: the face detector
(MTCNN, as used to align uploads) run on the 64×64 target itself. ``PYTHONPATH=. python
scripts/domain_detector.py --n 200`` finds a face in 200 of 200 CelebA *training* faces (centre crops of
1-8000), in 11 of 200 AFHQ cats, 0 of 200 MNIST training digits (upscaled) and 0 of 200 synthetic
building-against-sky scenes. Targets with more than 1% of pixels painted unknown are not judged by it (the
mask may hide the face).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from torch import Tensor

from engines.models.faces.last_stage import face_in_target

TRAINING_FACE_LOSS = 0.285  # the highest final loss of those 32 training faces, in either space
HARDER_THAN_MOST = 0.204  # the 90th percentile of those losses (Z's; X's is 0.166): 9 faces in 10 end lower
MODELS = ("faces64",)
DIGIT_MODELS = ("digits", "mnist-classifier")  # models of MNIST digits: light strokes on a plain dark background
PLAIN_BORDER = 0.1  # a digit's border pixels vary less than this (grey std in [0, 1]; MNIST's are all 0)
COLOURLESS = 0.05  # and its colour channels differ less than this on average (bundled faces and cats: 0.05–0.27)
OBJECTIVE = "mse+lpips"
MIN_STEPS = 100  # shorter runs have not converged enough to judge
MIN_KNOWN_FOR_DETECTOR = 0.99  # the detector judges targets with at least this share of known pixels


def domain_notice(
    model: str, loss: str, steps: int, x_final: float, z_final: float, *, face: bool | None = None
) -> str:
    """A plain warning when the detector finds no face in the target (``face`` False; None: not judged) or
    even the better space ends above 9 in 10 (or all) training faces measured, else ""."""
    best = min(x_final, z_final)
    if model in MODELS and face is False:
        return (
            f"⚠ This does not look like a face: the face detector finds none in the target (it finds one in every "
            f"training face we tried). {model} makes aligned 64×64 faces, so the result is a face-like "
            f"approximation (best final loss {best:.3f}), not evidence about this image."
        )
    if model not in MODELS or loss != OBJECTIVE or steps < MIN_STEPS or not best > HARDER_THAN_MOST:
        return ""
    if best > TRAINING_FACE_LOSS:
        return (
            f"⚠ This target looks far from what {model} knows: its best final loss {best:.3f} is above every "
            f"training face we measured ({TRAINING_FACE_LOSS}). The model makes aligned 64×64 faces, so expect a "
            "face-like approximation, not a reconstruction."
        )
    return (
        f"⚠ This target is harder than 9 in 10 training faces (best final loss {best:.3f}; 9 in 10 end below "
        f"{HARDER_THAN_MOST}): it may lie outside what {model} knows (aligned 64×64 faces)."
    )


def target_has_face(model: str, image: Tensor, weight: Tensor) -> bool | None:
    """:func:`face_found` on a run's target for a face model; None (not judged) for other models or when
    more than 1% of its pixels are unknown."""
    if model not in MODELS or float(weight.float().mean()) < MIN_KNOWN_FOR_DETECTOR:
        return None
    return face_found(image)


def face_found(image: Tensor) -> bool:
    """Whether MTCNN finds a face in ``image`` (``3 x S x S`` or ``1 x 3 x S x S`` in [-1, 1]): the engine's
    :func:`engines.models.faces.last_stage.face_in_target`, which also gates "Refine past the generator"."""
    return face_in_target(image)


def digit_notice(image: Image.Image, model: str) -> str:
    """A plain warning when an image sent to a digit model (:data:`DIGIT_MODELS`) is no digit-like picture: in
    colour, or without a plain background (MNIST digits are grey strokes on a plain border), else ""."""
    if model not in DIGIT_MODELS:
        return ""
    pixels = np.asarray(image.convert("RGB"), np.float32) / 255
    grey = pixels.mean(axis=-1)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    colour = float(np.abs(np.diff(pixels, axis=-1)).mean()) >= COLOURLESS
    busy = float(border.std()) >= PLAIN_BORDER
    if not (colour or busy):
        return ""
    why = " and ".join(text for text, found in (("in colour", colour), ("without a plain background", busy)) if found)
    return (
        f"⚠ This does not look like a handwritten digit ({why}): {model} knows only MNIST digits (light strokes on "
        "a plain dark background), so the result says little about this image."
    )
