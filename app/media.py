"""Streamed images as files named by their content, written once and never rewritten.

Gradio turns a PIL image into a cache file by rewriting ``<hash>/image.png`` in place each time it
is sent; when the same picture is sent twice (a run's last step, then its "done" frame) the browser
can be reading the file while it is truncated and rewritten, and the response breaks
(``h11 LocalProtocolError: Too much data for declared Content-Length``). Handing Gradio a path to a
file that never changes avoids that: Gradio copies a path into its cache once per content, atomically.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from PIL import Image

logger = logging.getLogger(__name__)

MEDIA_DIR = Path(tempfile.gettempdir()) / "landscape-studio-media"
MAX_AGE_SECONDS = 600.0  # Gradio copies a returned file into its own cache at once; ours are then spare
PRUNE_EVERY_SECONDS = 60.0
SUFFIXES = (".png", ".glb")  # streamed images, pose meshes
_last_prune = {"at": -math.inf}


def image_file(image: Image.Image, *, folder: Path | None = None) -> str:
    """``image`` as a PNG file named by the SHA-256 of its bytes; an existing file is reused, never rewritten."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return media_file(buffer.getvalue(), ".png", folder=folder)


def media_file(data: bytes, suffix: str, *, folder: Path | None = None) -> str:
    """``data`` as a file named by its SHA-256 plus ``suffix`` (one of :data:`SUFFIXES`), in the pruned folder."""
    if suffix not in SUFFIXES:
        raise ValueError(f"suffix must be one of {SUFFIXES}, got {suffix!r}")
    folder = Path(folder or MEDIA_DIR)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:32]}{suffix}"
    if path.is_file():
        try:
            os.utime(path)  # in use again: not pruned for another MAX_AGE_SECONDS
            return str(path)
        except FileNotFoundError:  # pruned just now: write it again
            pass
    folder.mkdir(parents=True, exist_ok=True)
    if time.monotonic() - _last_prune["at"] > PRUNE_EVERY_SECONDS:
        _last_prune["at"] = time.monotonic()
        prune(folder)
    handle, staging = tempfile.mkstemp(dir=folder, prefix=".staging-", suffix=suffix)
    with os.fdopen(handle, "wb") as staged:
        staged.write(data)
    os.replace(staging, path)  # atomic: a reader sees the whole file or none
    return str(path)


def prune(folder: Path, max_age: float = MAX_AGE_SECONDS) -> int:
    """Delete this module's files in ``folder`` older than ``max_age`` seconds (a long-lived server stays small)."""
    removed, now = 0, time.time()
    for path in (path for suffix in SUFFIXES for path in Path(folder).glob(f"*{suffix}")):
        try:
            if now - path.stat().st_mtime > max_age:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another thread pruned it first
            continue
    return removed


def as_files(updates: dict) -> dict:
    """``updates`` with every PIL image (alone or as a gallery's ``(image, caption)`` items) replaced by its
    content-named file, so a streamed picture is never rewritten while the browser reads it."""

    def convert(value):
        if isinstance(value, Image.Image):
            return image_file(value)
        if isinstance(value, list) and value and all(isinstance(item, tuple) for item in value):
            return [(convert(item[0]), *item[1:]) for item in value]
        return value

    return {component: convert(value) for component, value in updates.items()}


def report_unreadable(component: Any, message: str) -> Any:
    """Make an image input (``gr.Image``, ``gr.ImageEditor``) answer a file that is not an image with
    ``message``, in the app's words, and log one line (no traceback).

    An API client (``gradio_client``) can send any file; the stock component then fails before the
    handler runs and the client sees Gradio's opaque "The upstream Gradio app has raised an exception".
    (A subclass would make Gradio write a ``.pyi`` stub beside this module, so the instance's
    ``preprocess`` is wrapped instead.)
    """
    import gradio as gr

    preprocess = component.preprocess

    def checked(payload: Any) -> Any:
        try:
            return preprocess(payload)
        except Exception as error:
            logger.info("rejected input: %s (%s)", message, type(error).__name__)  # no server path, no traceback
            raise gr.Error(message, print_exception=False) from None

    component.preprocess = checked
    return component


STREAMED_FILE_AGE_SECONDS = 300.0  # Gradio's copies of streamed panes: the browser fetched them long before
PRUNE_STREAMED_EVERY_SECONDS = 60.0


def prune_streamed(components: list, age: float = STREAMED_FILE_AGE_SECONDS) -> int:
    """Delete the files Gradio cached for ``components`` (result panes and galleries that stream a picture per
    step) once they are older than ``age`` seconds; returns how many went.

    Gradio's own ``delete_cache`` has one age for every file, and the editor's target must outlive a visitor's
    pause, so it keeps an hour: a long-running server then gathered thousands of streamed frames (about
    7,300 PNGs in 20 minutes of use). These frames are shown once; a later look (the step picker) sends its
    picture again. A file two components share is left to ``delete_cache``."""
    now, removed = time.time(), 0
    shared = [file for component in components for file in list(getattr(component, "temp_files", ()))]
    counts = {file: shared.count(file) for file in set(shared)}
    for component in components:
        files = getattr(component, "temp_files", None)
        for file in list(files or ()):
            try:
                if counts.get(file, 0) == 1 and now - os.lstat(file).st_ctime > age:
                    os.remove(file)
                    files.discard(file)
                    removed += 1
            except FileNotFoundError:
                files.discard(file)
    return removed


def keep_streams_pruned(components: list, every: float = PRUNE_STREAMED_EVERY_SECONDS) -> threading.Thread:
    """Run :func:`prune_streamed` on ``components`` every ``every`` seconds in a daemon thread."""

    def loop() -> None:
        while True:
            time.sleep(every)
            try:
                if removed := prune_streamed(components):
                    logger.info("pruned %d streamed files from Gradio's cache", removed)
            except Exception:  # never let housekeeping end the server
                logger.exception("pruning streamed files failed")

    thread = threading.Thread(target=loop, name="prune-streamed", daemon=True)
    thread.start()
    return thread
