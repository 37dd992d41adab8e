"""Targets for the image tab: samples, uploads, the painted mask; the mask presets
(:mod:`engines.io.masks`, shared with the hypotheses benchmark).

The editor always holds the prepared target (the model's size, e.g. 64×64) upscaled
``EDIT_SCALE`` times with nearest-neighbour, so that painting is comfortable and the
exact target comes back by a box reduction. Painted pixels are *unknown*: weight 0.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from app.domain import digit_notice
from engines.io.images import (
    Prepared,
    array_to_image,
    center_crop_resize,
    image_to_tensor,
    prepare_image,
    tensor_to_image,
    to_rgb,
)
from engines.io.masks import PRESETS as PRESETS  # re-exported for the image tab
from engines.io.masks import preset_known

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
LAST_TRAINING_FACE = 8000  # CelebA 000001–008000 train faces64 and choose its settings; 008001–009000 are held out
# The default target, by a stated rule on *training* faces (test faces stay for benchmarks): of CelebA 007001–007050,
# the face whose Z→X gain (1 − Z→X / X, final loss at 200 steps, the model's default settings) is nearest the
# median gain. ``python -m engines.bench --threads 1 inversion --model faces64 --data CELEBA_7001_7050 --n 50
# --steps 200 --seed 0 --json OUT.json``: median gain 21.5 %, face 7019 21.8 % (X 0.1352, Z→X 0.1058, Z 0.1625);
# Z→X below X on 49/50 (docs/benchmarks.md, "The default sample").
DEFAULT_SAMPLE = "face_007019"
EDIT_SCALE = 4
TARGET_ID_LABEL = "target fingerprint (for API clients)"  # the hidden Run output app.bench reads
PAINTED_FRACTION = 0.3  # a target pixel is unknown when at least this much of it is painted


@dataclass(frozen=True)
class Target:
    """A run's target: ``image`` is ``1 x 3 x S x S`` in [-1, 1], ``weight`` ``1 x 1 x S x S`` (0 = unknown).

    unknown_truth: "" when ``image`` holds the truth of the hidden pixels too (a preset mask on a whole
    image: the verdict scores them); else why it does not (e.g. "painted-over pixels")."""

    image: Tensor
    weight: Tensor
    fingerprint: str
    unknown_truth: str = ""


def sample_paths(folder: Path = SAMPLES_DIR) -> dict[str, Path]:
    """Bundled samples of ``folder`` by display name (``face_008003``, ``cat_flickr_cat_000010``...)."""
    return {path.stem: path for path in sorted(folder.glob("*.png"))}


def sample_label(name: str) -> str:
    """How a sample is named in the dropdown: in-distribution faces (the default a training face, the others
    held out) apart from out-of-distribution cats."""
    kind, _, number = name.partition("_")
    if kind == "face":  # CelebA faces: what F was made for
        return (
            f"Face {int(number)} (in-distribution, {'training' if int(number) <= LAST_TRAINING_FACE else 'held out'})"
        )
    if kind == "cat":  # AFHQ cats: F knows only faces
        return f"Cat {int(number.rpartition('_')[2])} (out-of-distribution)"
    if kind == "generated":  # drawn by the full generator: a face F can reach exactly
        return f"Generated face, seed {int(number.removeprefix('seed'))} (the generator's own)"
    return name


def sample_choices(folder: Path = SAMPLES_DIR) -> list[tuple[str, str]]:
    """(label, name) of every sample of ``folder``: faces first, then generated faces, cats, anything else."""
    order = {"face": 0, "generated": 1, "cat": 2}
    names = sorted(sample_paths(folder), key=lambda name: (order.get(name.partition("_")[0], 3), name))
    return [(sample_label(name), name) for name in names]


def default_sample() -> str | None:
    """The sample a visitor sees first: :data:`DEFAULT_SAMPLE` (a typical training face, never a cat on a
    faces-only model), else the first face."""
    choices = sample_choices()
    names = [name for _, name in choices]
    return DEFAULT_SAMPLE if DEFAULT_SAMPLE in names else (names[0] if names else None)


def fingerprint(image: Image.Image) -> str:
    """A short id of an RGB target image, shown in the status so clients can check they got their own run."""
    return hashlib.sha1(image.convert("RGB").tobytes()).hexdigest()[:8]


def editor_value(target: Image.Image, unknown: np.ndarray | None = None) -> dict:
    """The ImageEditor value showing ``target`` enlarged for painting; ``unknown`` (``S x S`` bool, e.g. the
    pixels an aligned crop takes from outside the photo) comes painted over, as a visitor's strokes are, on a
    neutral grey (never the streaks or white beneath), so that :func:`build_target` hides it from the loss."""
    large = target.resize((target.width * EDIT_SCALE, target.height * EDIT_SCALE), Image.Resampling.NEAREST)
    if unknown is None or not unknown.any():
        return {"background": large, "layers": [], "composite": large}
    big = np.repeat(np.repeat(unknown, EDIT_SCALE, axis=0), EDIT_SCALE, axis=1)
    background = np.asarray(large).copy()
    background[big] = UNKNOWN_GREY
    strokes = np.zeros((*big.shape, 4), np.uint8)
    strokes[big] = (*PRESET_COLOUR, 255)  # full alpha, as the brush paints: presets drawn later keep it
    background, layer = Image.fromarray(background), Image.fromarray(strokes, "RGBA")
    return {"background": background, "layers": [layer], "composite": Image.alpha_composite(background.convert("RGBA"), layer)}  # fmt: skip


def aligns_faces(model: str) -> bool:
    """Whether uploads for ``model`` can be face-aligned (a face generator: faces64, ffhq64...)."""
    return face_crop_of(model) is not None


def face_crop_of(model: str) -> str | None:
    """The crop a face model's uploads are aligned to ("celeba", "ffhq"), None for other models."""
    from engines.models.registry import load_model

    return getattr(load_model(model), "face_crop", None) if model else None


def load_target(source: Any, size: int, *, align: bool = False, model: str = "") -> tuple[dict, str]:
    """Prepare a path / PIL / array as a ``size`` target; returns the editor value and the notice.

    align: for a face model, align the face to the training crop (MTCNN landmarks,
    :func:`engines.models.faces.align.align_face`); the centre crop, with a notice, when none is found.
    model: the generator it is for; a digit model's notice says when the image does not look like a digit.
    Raises ``ValueError`` with a user-facing message for anything that is not a usable image.
    """
    if source is None:
        raise ValueError("no file was uploaded")
    name = Path(source).name if isinstance(source, (str, Path)) else "image"
    prepared = prepare_image(source, size)
    opaque = _alpha_share(source, size)  # None: no transparency
    outside = None
    if align:
        prepared, outside, opaque = _aligned(source, size, face_crop_of(model) or "celeba")
    notice = f"**{name}**: {prepared.notice}"
    width, height = _source_size(source, size)
    unknown = np.zeros((size, size), bool)
    if _fully_transparent(source):
        notice += " ⚠ every pixel is fully transparent: the target is a blank image (upload visible pixels)"
    else:
        unknown, hidden = _unknown_pixels(outside, opaque)
        notice += hidden
    if min(width, height) < size // 4:
        notice += f" ⚠ the original is only {width}×{height}: the target has almost no detail"
    if warning := digit_notice(tensor_to_image(prepared.tensor), model):
        notice += f" {warning}"
    return editor_value(tensor_to_image(prepared.tensor), unknown), notice


def _unknown_pixels(outside: np.ndarray | None, opaque: np.ndarray | None) -> tuple[np.ndarray, str]:
    """(``S x S`` bool: pixels the target does not know, what the notice says of them): those an aligned crop
    takes mostly from outside the photo (``outside``: share per pixel) and the transparent ones of an image
    with alpha (``opaque``: mean alpha per pixel in [0, 1])."""
    shape = (outside if outside is not None else opaque if opaque is not None else np.zeros((1, 1))).shape
    beyond = outside >= PAINTED_FRACTION if outside is not None else np.zeros(shape, bool)
    clear = opaque < 0.5 if opaque is not None else np.zeros(shape, bool)
    total, words = beyond.size, []
    for count, what in ((int(beyond.sum()), "lie outside the photo"), (int((clear & ~beyond).sum()), "are transparent")):  # fmt: skip
        if count:
            share = 100 * count / total
            words.append(f"{count:,} of {total:,} pixels ({share:.0f}%) {what}" if share >= 1 else f"{count:,} of {total:,} pixels ({share:.1f}%) {what}")  # fmt: skip
    if not words:
        return beyond | clear, ""
    return beyond | clear, f" · {' and '.join(words)}: unknown, so hidden from the loss (painted over in the editor, checkered in what the optimiser sees)"  # fmt: skip


def _aligned(source: Any, size: int, crop: str = "celeba") -> tuple[Prepared, np.ndarray | None, np.ndarray | None]:
    """``source`` (already checked by :func:`prepare_image`) with its face aligned to the model's ``crop``;
    the share of each crop pixel from outside the photo and the crop's alpha (None: not aligned / no alpha)."""
    from engines.models.faces.align import align_face, warp_to_reference

    image = _as_image(source)
    with image if isinstance(source, (str, Path)) else contextlib.nullcontext():
        image = ImageOps.exif_transpose(image) if image.mode in ("RGB", "RGBA", "L") else image
        face, info = align_face(to_rgb(image), size, crop)
        alpha = _alpha_channel(image)
    if not info.aligned:
        opaque = None if alpha is None else np.asarray(center_crop_resize(alpha, size)[0], np.float32) / 255
        return Prepared(tensor=image_to_tensor(face), notice=info.notice), None, opaque
    opaque = (
        None if alpha is None else np.asarray(warp_to_reference(alpha, info.landmarks, size, crop), np.float32) / 255
    )
    notice = f"aligned: face found ({info.notice}); the editor shows the aligned crop"
    return Prepared(tensor=image_to_tensor(face), notice=notice), info.outside, opaque


def _alpha_channel(image: Image.Image) -> Image.Image | None:
    """The alpha channel (mode L) of an image with transparency, else None."""
    if image.mode in ("P", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
    return image.getchannel("A") if "A" in image.getbands() else None


def _alpha_share(source: Any, size: int) -> np.ndarray | None:
    """``size x size`` mean alpha in [0, 1] of the centre crop (as :func:`prepare_image` crops), or None
    when the image has no transparency."""
    image = _as_image(source)
    with image if isinstance(source, (str, Path)) else contextlib.nullcontext():
        image = ImageOps.exif_transpose(image) if image.mode in ("RGB", "RGBA", "L") else image
        alpha = _alpha_channel(image)
        if alpha is None or alpha.getextrema()[0] == 255:
            return None
        return np.asarray(center_crop_resize(alpha, size)[0], np.float32) / 255


def _source_size(source: Any, default: int) -> tuple[int, int]:
    if isinstance(source, (str, Path)):
        with Image.open(source) as opened:
            return opened.size
    if isinstance(source, Image.Image):
        return source.size
    return default, default


def _fully_transparent(source: Any) -> bool:
    """Whether an image with transparency has alpha 0 everywhere (it then becomes a blank target)."""
    image = _as_image(source)
    if image is None:
        return False
    with image if isinstance(source, (str, Path)) else contextlib.nullcontext():
        if image.mode in ("P", "LA", "PA") or "transparency" in image.info:
            image = image.convert("RGBA")
        return "A" in image.getbands() and image.getchannel("A").getextrema()[1] == 0


def _as_image(value: Any) -> Image.Image | None:
    if value is None:
        return None
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, (str, Path)):
        return Image.open(value)
    return array_to_image(np.asarray(value))


def _shrink(image: Image.Image, size: int) -> Image.Image:
    """Back to ``size``: an exact box reduction of the editor's enlargement, else crop and resize."""
    if image.width == image.height and image.width % size == 0:
        return image.reduce(image.width // size) if image.width > size else image
    return center_crop_resize(image, size)[0]


def painted_unknown(layers: list, size: int) -> Tensor:
    """``S x S`` bool: target pixels covered by paint (alpha > 0) in any editor layer."""
    unknown = torch.zeros(size, size, dtype=torch.bool)
    for layer in layers or []:
        image = _as_image(layer)
        if image is None or "A" not in image.getbands():
            continue
        alpha = image.getchannel("A").point(lambda value: 255 if value > 0 else 0)
        coverage = np.asarray(_shrink(alpha, size), dtype=np.float32) / 255.0
        unknown |= torch.from_numpy(coverage >= PAINTED_FRACTION)
    return unknown


def build_target(value: dict | None, preset: str, size: int) -> Target:
    """Editor value + preset -> :class:`Target`. Raises ``ValueError`` for a missing or fully hidden target."""
    background = _as_image((value or {}).get("background"))
    if background is None:
        raise ValueError("no target image: pick a sample or upload an image first")
    rgb = _shrink(to_rgb(background), size)
    preset_region = preset_known(preset, size)
    painted = painted_unknown(value.get("layers", []), size)
    known = preset_region * (~painted).float()
    if known.sum() == 0:
        raise ValueError("the mask hides everything: at least one pixel must stay known")
    image = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)
    # painted beyond the preset: the visitor hid something, so what lies under it is not the truth to score
    unknown = "painted-over pixels" if bool((painted & (preset_region == 1)).any()) else ""
    return Target(image=image[None].contiguous(), weight=known[None, None], fingerprint=fingerprint(rgb), unknown_truth=unknown)  # fmt: skip


def masked_view(target: Target) -> Image.Image:
    """The target as the optimiser sees it: unknown pixels drawn as a grey checkerboard."""
    image = target.image[0].clone()
    size = image.shape[-1]
    checker = ((torch.arange(size)[:, None] // 4 + torch.arange(size)[None, :] // 4) % 2).float() * 0.3 - 0.1
    unknown = target.weight[0, 0] == 0
    image[:, unknown] = checker[unknown]
    return tensor_to_image(image)


UNKNOWN_GREY = 128  # what an unknown pixel shows under its paint in the editor

PRESET_COLOUR = (255, 0, 255)  # the brush's magenta: a preset reads as painted-over, unknown pixels
PRESET_ALPHA = 160  # half-transparent, so the face shows through; the brush paints at full alpha
PRESET_ALPHAS = range(100, 221)  # what counts as preset paint after the browser's canvas round trip


def draw_preset(value: dict | None, preset: str, size: int) -> dict | None:
    """The editor value with ``preset``'s hidden region drawn into its layer (half-transparent magenta),
    the previous preset's drawing removed and the visitor's own strokes kept; None stays None.

    The preset is then visible on the target itself, where the visitor paints; :func:`build_target`
    reads the drawn pixels as unknown, as it reads the preset (the two agree)."""
    background = _as_image((value or {}).get("background"))
    if background is None:
        return value
    layers = [layer for layer in (_as_image(item) for item in value.get("layers") or []) if layer is not None]
    if preset == "none" and not layers:
        return value
    strokes = np.zeros((background.height, background.width, 4), np.uint8)
    if layers and layers[0].size == background.size:
        strokes = np.asarray(layers[0].convert("RGBA")).copy()
        strokes[np.isin(strokes[..., 3], PRESET_ALPHAS)] = 0  # the previous preset's drawing
    hidden = preset_known(preset, size) == 0
    big = np.asarray(Image.fromarray(hidden.numpy()).resize(background.size, Image.Resampling.NEAREST))
    drawn = big & (strokes[..., 3] == 0)
    strokes[drawn] = (*PRESET_COLOUR, PRESET_ALPHA)
    layer = Image.fromarray(strokes, "RGBA")
    composite = Image.alpha_composite(background.convert("RGBA"), layer)
    return {"background": background, "layers": [layer], "composite": composite}
