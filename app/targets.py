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


def sample_paths() -> dict[str, Path]:
    """Bundled samples by display name (``face_008003``, ``cat_flickr_cat_000010``...)."""
    return {path.stem: path for path in sorted(SAMPLES_DIR.glob("*.png"))}


def sample_label(name: str) -> str:
    """How a sample is named in the dropdown: in-distribution faces apart from out-of-distribution cats."""
    kind, _, number = name.partition("_")
    if kind == "face":  # held-out CelebA faces: what F was made for
        return f"Face {int(number)} (in-distribution)"
    if kind == "cat":  # AFHQ cats: F knows only faces
        return f"Cat {int(number.rpartition('_')[2])} (out-of-distribution)"
    return name


def sample_choices() -> list[tuple[str, str]]:
    """(label, name) of every sample, faces first, then cats, then anything else."""
    order = {"face": 0, "cat": 1}
    names = sorted(sample_paths(), key=lambda name: (order.get(name.partition("_")[0], 2), name))
    return [(sample_label(name), name) for name in names]


def default_sample() -> str | None:
    """The sample a visitor sees first: a held-out face (never a cat on a faces-only model)."""
    choices = sample_choices()
    return choices[0][1] if choices else None


def fingerprint(image: Image.Image) -> str:
    """A short id of an RGB target image, shown in the status so clients can check they got their own run."""
    return hashlib.sha1(image.convert("RGB").tobytes()).hexdigest()[:8]


def editor_value(target: Image.Image) -> dict:
    """The ImageEditor value showing ``target`` enlarged for painting, with no mask yet."""
    large = target.resize((target.width * EDIT_SCALE, target.height * EDIT_SCALE), Image.Resampling.NEAREST)
    return {"background": large, "layers": [], "composite": large}


def aligns_faces(model: str) -> bool:
    """Whether uploads for ``model`` can be face-aligned (it is a face generator such as faces64)."""
    from engines.models.faces.model import FaceGenerator
    from engines.models.registry import load_model

    return isinstance(load_model(model), FaceGenerator)


def load_target(source: Any, size: int, *, align: bool = False) -> tuple[dict, str]:
    """Prepare a path / PIL / array as a ``size`` target; returns the editor value and the notice.

    align: for a face model, align the face to the training crop (MTCNN landmarks,
    :func:`engines.models.faces.align.align_face`); the centre crop, with a notice, when none is found.
    Raises ``ValueError`` with a user-facing message for anything that is not a usable image.
    """
    if source is None:
        raise ValueError("no file was uploaded")
    name = Path(source).name if isinstance(source, (str, Path)) else "image"
    prepared = prepare_image(source, size)
    if align:
        prepared = _aligned(source, size)
    notice = f"**{name}**: {prepared.notice}"
    width, height = _source_size(source, size)
    if _fully_transparent(source):
        notice += " ⚠ every pixel is fully transparent: the target is a blank image (upload visible pixels)"
    if min(width, height) < size // 4:
        notice += f" ⚠ the original is only {width}×{height}: the target has almost no detail"
    return editor_value(tensor_to_image(prepared.tensor)), notice


def _aligned(source: Any, size: int) -> Prepared:
    """``source`` (already checked by :func:`prepare_image`) with its face aligned to the training crop."""
    from engines.models.faces.align import align_face

    image = _as_image(source)
    with image if isinstance(source, (str, Path)) else contextlib.nullcontext():
        image = ImageOps.exif_transpose(image) if image.mode in ("RGB", "RGBA", "L") else image
        face, info = align_face(to_rgb(image), size)
    notice = f"aligned: face found ({info.notice}); the editor shows the aligned crop" if info.aligned else info.notice
    return Prepared(tensor=image_to_tensor(face), notice=notice)


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
