"""One device policy for the engine, every command line and the app.

``auto`` picks CUDA when a GPU is visible, else Apple's MPS, else the CPU. Pure PyTorch ops only:
nothing here or elsewhere in :mod:`engines` compiles a CUDA extension.
"""

from __future__ import annotations

import argparse

import torch

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
