"""Keeping a long-running server's resident memory flat (glibc's allocator; a no-op elsewhere).

Gradio runs each request in a worker thread, and glibc gives threads their own malloc arenas (up to 8 per core),
each fragmented by the runs that used it. ``scripts/soak.py`` (20 rounds of 8 sessions) measured resident memory
130-150 MB above the first run's without the arena cap (with or without the trim), 73 MB with both. :func:`limit_arenas` caps the arenas at start-up
and :func:`trim_heap` hands freed pages back after runs (``app.session``, at most every few seconds).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)
M_ARENA_MAX = -8  # mallopt's parameter number (glibc malloc.h)
ARENAS = 2


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        library = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return library if library is not None and hasattr(library, "malloc_trim") and hasattr(library, "mallopt") else None


_LIBC = _libc()


def limit_arenas(arenas: int = ARENAS) -> bool:
    """``mallopt(M_ARENA_MAX, arenas)``: threads share at most ``arenas`` malloc arenas from now on (call it
    before the server starts its threads). False where there is no glibc (macOS, musl)."""
    if _LIBC is None:
        return False
    done = bool(_LIBC.mallopt(M_ARENA_MAX, arenas))
    if not done:
        logger.warning("mallopt(M_ARENA_MAX, %d) refused", arenas)
    return done


def trim_heap() -> bool:
    """``malloc_trim(0)``: give the pages that freed memory left behind back to the system. False where there is
    no glibc."""
    if _LIBC is None:
        return False
    _LIBC.malloc_trim(0)
    return True
