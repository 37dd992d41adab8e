"""One device policy for the engine, every command line and the app.

``auto`` picks CUDA when a GPU is visible, else Apple's MPS, else the CPU. Pure PyTorch ops only:
nothing here or elsewhere in :mod:`engines` compiles a CUDA extension.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import logging
import os
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` / ``mps`` -> a usable ``torch.device``.

    Raises ``ValueError`` naming the alternatives when the asked-for device is not there.
    """
    if isinstance(name, torch.device):
        return name
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_available() else torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: no CUDA GPU is visible to torch; use --device cpu (or auto)")
        return torch.device(name)
    if name == "mps":
        if not mps_available():
            raise ValueError("--device mps: Apple's MPS backend is not available here; use --device cpu (or auto)")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise ValueError(f"unknown device {name!r}; choose from {', '.join(DEVICE_CHOICES)} (or cuda:N)")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device auto|cpu|cuda|mps`` (default auto) on a command line."""
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps (default auto)"
    )


DEVICE_ENV = "LANDSCAPE_DEVICE"


def default_device() -> torch.device:
    """The device of front ends without a ``--device`` flag (the app): ``$LANDSCAPE_DEVICE``, else auto."""
    return resolve_device(os.environ.get(DEVICE_ENV) or "auto")


def device_key(device: str | torch.device | None) -> str:
    """A canonical name of a device (``"cpu"``, ``"cuda:0"``, ``"mps"``), e.g. for per-device caches."""
    resolved = resolve_device(device if device is not None else "cpu")
    if resolved.type == "cuda" and resolved.index is None:
        resolved = torch.device("cuda", torch.cuda.current_device())
    return str(resolved)


def module_device(module: nn.Module, default: torch.device | None = None) -> torch.device:
    """Where ``module``'s first parameter (or buffer) lives; ``default`` (or the CPU) for a module without any."""
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        return tensor.device
    return default if default is not None else torch.device("cpu")


class DeviceOutOfMemoryError(RuntimeError):
    """The accelerator ran out of memory even at the smallest batch; the message says what to change."""


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA's ``OutOfMemoryError`` and for MPS's "out of memory" ``RuntimeError``."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def release_cached_memory() -> None:
    """Give cached accelerator memory back after an out-of-memory error (a no-op on the CPU)."""
    if torch.cuda.is_available():
        gc.collect()  # tensors kept alive by reference cycles hold device memory
        torch.cuda.empty_cache()
    elif mps_available() and hasattr(torch, "mps"):
        gc.collect()
        torch.mps.empty_cache()


def halve_on_out_of_memory(run: Callable[[int], T], batch: int, *, what: str = "items") -> T:
    """``run(batch)``; on an out-of-memory error, log it, free the cache and retry with half the batch.

    Raises :class:`DeviceOutOfMemoryError` (a clear message) when even a batch of 1 does not fit.
    """
    while True:
        try:
            return run(batch)
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            release_cached_memory()
            if batch <= 1:
                raise DeviceOutOfMemoryError(
                    f"the device ran out of memory even with 1 of the {what}; use a smaller model, "
                    "free the GPU, or run on the CPU (--device cpu)"
                ) from error
            logger.warning("out of memory with %d %s per pass; retrying with %d", batch, what, (batch + 1) // 2)
            batch = (batch + 1) // 2
