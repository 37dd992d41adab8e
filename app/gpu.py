"""``@gpu``: the ``spaces`` package's ``@spaces.GPU`` on Hugging Face ZeroGPU hardware, a no-op elsewhere.

On ZeroGPU (``SPACES_ZERO_GPU=true``, set by the platform) a GPU is attached only while a function
decorated with ``@spaces.GPU`` runs, in a worker process: its arguments and results must pickle
(plain data, tensors, PIL images), never locks, events or Gradio components. On any other machine,
or without the ``spaces`` package, the function is returned unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)

GPU_SECONDS = 120  # the longest a single run may hold the ZeroGPU slice


def on_zero_gpu() -> bool:
    """True on Hugging Face ZeroGPU hardware with the ``spaces`` package installed."""
    if os.environ.get("SPACES_ZERO_GPU", "").lower() not in ("1", "t", "true"):
        return False
    try:
        import spaces  # noqa: F401
    except ImportError:
        return False
    return True


def device_outside_gpu_functions():
    """The device for work not wrapped in :func:`gpu`: the CPU on ZeroGPU (no GPU is attached there
    outside ``@spaces.GPU``), else the app's device (``$LANDSCAPE_DEVICE`` / auto)."""
    import torch

    from engines.core.device import default_device

    return torch.device("cpu") if on_zero_gpu() else default_device()


def gpu(function: F) -> F:
    """``spaces.GPU(duration=GPU_SECONDS)(function)`` on ZeroGPU; ``function`` itself elsewhere."""
    if not on_zero_gpu():
        return function
    import spaces

    return spaces.GPU(duration=GPU_SECONDS)(function)
