"""Image loading and preprocessing shared by the app, the CLI and the benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
MAX_PIXELS = 100_000_000


@dataclass(frozen=True)
class Prepared:
    """A preprocessed target: ``tensor`` is ``3 x size x size`` in [-1, 1]; ``notice`` says what was done."""

    tensor: Tensor
    notice: str


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode (RGBA, LA, P, L, I;16, I, F) -> 8-bit RGB; alpha is composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) / (high - low) * 255.0 if high > low else np.zeros_like(array)
        image = Image.fromarray(scaled.round().astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def center_crop_resize(image: Image.Image, size: int) -> tuple[Image.Image, str]:
    """Center-crop to a square of the shorter side, then resize to ``size``; returns a notice."""
    width, height = image.size
    if width < 1 or height < 1:
        raise ValueError("the image is empty")
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    cropped = image.crop((left, top, left + side, top + side))
    resized = cropped.resize((size, size), Image.Resampling.BICUBIC if side < size else Image.Resampling.LANCZOS)
    steps = []
    if width != height:
        steps.append(f"center-cropped {width}×{height} to {side}×{side}")
    if side != size:
        steps.append(f"{'upscaled' if side < size else 'downscaled'} to {size}×{size}")
    return resized, ("; ".join(steps) or f"used as is ({size}×{size})")


def image_to_tensor(image: Image.Image) -> Tensor:
    """RGB PIL image -> ``3 x H x W`` float tensor in [-1, 1]."""
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def tensor_to_image(tensor: Tensor) -> Image.Image:
    """``3 x H x W`` tensor in [-1, 1] -> RGB PIL image (NaN shows as black)."""
    array = ((tensor.detach().cpu().float().nan_to_num(-1.0).clamp(-1, 1) + 1) * 127.5).round().byte()
    return Image.fromarray(array.permute(1, 2, 0).numpy(), mode="RGB")


def prepare_image(source: str | Path | Image.Image | np.ndarray, size: int) -> Prepared:
    """Load (path, PIL or HxW[xC] array) and preprocess exactly as the app and benchmarks do.

    Raises ``ValueError`` for files that are not images or are too large to decode.
    """
    if isinstance(source, (str, Path)):
        try:
            with Image.open(source) as opened:
                if opened.width * opened.height > MAX_PIXELS:
                    raise ValueError(f"image is {opened.width}×{opened.height}: larger than {MAX_PIXELS:,} pixels")
                opened.load()
                image = opened.copy()
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f"{Path(source).name} is not a readable image") from error
    elif isinstance(source, np.ndarray):
        image = array_to_image(source)
    elif isinstance(source, Image.Image):
        image = source
    else:
        raise ValueError(f"expected an image, got {type(source).__name__}")
    image = ImageOps.exif_transpose(image) if image.mode in ("RGB", "RGBA", "L") else image
    if image.width * image.height > MAX_PIXELS:
        raise ValueError(f"image is {image.width}×{image.height}: larger than {MAX_PIXELS:,} pixels")
    original_mode = image.mode
    resized, notice = center_crop_resize(to_rgb(image), size)
    if original_mode not in ("RGB",):
        notice = f"converted {original_mode} to RGB; {notice}"
    return Prepared(tensor=image_to_tensor(resized), notice=notice)


def array_to_image(array: np.ndarray) -> Image.Image:
    """HxW, HxWx1, HxWx3 or HxWx4 array (uint8, uint16 or float) -> PIL image."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"expected an H×W, H×W×3 or H×W×4 image array, got shape {array.shape}")
    if array.dtype != np.uint8:
        values = array.astype(np.float64)
        high = 65535.0 if array.dtype == np.uint16 else (255.0 if values.max() > 1.0 else 1.0)
        array = (np.clip(values / high, 0, 1) * 255).round().astype(np.uint8)
    return Image.fromarray(array)


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, in sorted filename order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    return sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())


def load_folder(folder: str | Path, size: int, *, limit: int | None = None, start: int = 0) -> Tensor:
    """The images of ``folder`` (sorted, ``[start : start+limit]``) as ``N x 3 x size x size``."""
    paths = list_images(folder)[start:]
    if limit is not None:
        paths = paths[:limit]
    if not paths:
        raise ValueError(f"no images found in {folder}")
    return torch.stack([prepare_image(path, size).tensor for path in paths])
