"""Locating the shared training data and caching preprocessed copies (never in the repo)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from engines.io.images import list_images, load_folder

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("LANDSCAPE_DATA", REPO.parent / "shared" / "data"))
CACHE_DIR = Path(os.environ.get("LANDSCAPE_CACHE", Path.home() / ".cache" / "landscape-studio"))


def data_path(name: str) -> Path:
    """``../shared/data/NAME`` (or ``$LANDSCAPE_DATA/NAME``); clear error when absent."""
    path = SHARED_DATA / name
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: put the data set there or set LANDSCAPE_DATA to the folder holding {name}"
        )
    return path


def cached_image_set(folder: Path, size: int, *, start: int = 0, limit: int | None = None) -> Tensor:
    """Images of ``folder[start:start+limit]`` as ``N x 3 x size x size`` in [-1, 1], cached as uint8."""
    folder = Path(folder)
    count = len(list_images(folder)[start:][:limit])
    key = f"{folder.name}_{size}_{start}_{count}.safetensors"
    cache = CACHE_DIR / key
    if cache.is_file():
        return load_file(str(cache))["images"].float() / 127.5 - 1.0
    logger.info("preprocessing %d images of %s (cached at %s)", count, folder, cache)
    images = load_folder(folder, size, limit=limit, start=start)
    cache.parent.mkdir(parents=True, exist_ok=True)
    save_file({"images": ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)}, str(cache))
    return images
