"""Forward models F and their registry.

A forward model maps ``B x input_dim`` inputs to ``B x output_shape`` outputs and
knows how to turn a user's target (an image, a pose) into an output-shaped tensor.
Models and their mapping networks Θ are registered by name and loaded once.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from engines.core.device import device_key


class ForwardModel(nn.Module):
    """Base class: ``forward(x: B x input_dim) -> B x output_shape``.

    Subclasses set ``input_dim``, ``output_kind`` ("image" or "pose") and ``output_shape``,
    and implement :meth:`prepare_target`; face models name their ``face_crop``
    (:data:`engines.models.faces.align.CROPS`).
    """

    input_dim: int
    output_kind: str
    output_shape: tuple[int, ...]
    face_crop: str | None = None  # a face model's crop ("celeba", "ffhq"): uploads are aligned to it

    def prepare_target(self, source: Any) -> tuple[Tensor, str]:
        """Turn a user target into an ``output_shape`` tensor; returns it and a notice."""
        raise NotImplementedError

    def prepare_known_target(self, source: Any) -> tuple[Tensor, Tensor | None, str]:
        """(the target, its known pixels ``1 x H x W`` as 0/1, or None when all are known, a notice). Models
        whose targets can have unknown parts (an aligned crop reaching outside the photo) override it."""
        tensor, notice = self.prepare_target(source)
        return tensor, None, notice


@dataclass(frozen=True)
class ModelSpec:
    """A registered forward model: how to load it, its Θ and its feed-forward encoder (None when not shipped)."""

    name: str
    description: str
    output_kind: str
    load: Callable[[], ForwardModel]
    load_mapping: Callable[[], nn.Module] | None = None
    available: Callable[[], bool] = lambda: True
    load_encoder: Callable[[], nn.Module] | None = None
    conditional: bool = False  # class-conditional: the model has ``forward_conditional(z, c)`` (see digits)


MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    MODELS[spec.name] = spec
    return spec


@functools.cache
def _import_builtins() -> None:
    """Import ``engines.models.<package>.registration`` for every model package: each registers its models."""
    import engines.models

    for package in pkgutil.iter_modules(engines.models.__path__):
        if package.ispkg and importlib.util.find_spec(f"engines.models.{package.name}.registration"):
            importlib.import_module(f"engines.models.{package.name}.registration")


def available_models(output_kind: str | None = None, *, conditional: bool | None = None) -> list[str]:
    """Names of registered models whose weights are present (optionally of one kind; ``conditional``
    True / False keeps only class-conditional / unconditional models)."""
    _import_builtins()
    return sorted(
        name
        for name, spec in MODELS.items()
        if (output_kind is None or spec.output_kind == output_kind)
        and (conditional is None or spec.conditional == conditional)
        and spec.available()
    )


def get_spec(name: str) -> ModelSpec:
    _import_builtins()
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]


def load_model(name: str, device: str | torch.device | None = "cpu") -> ForwardModel:
    """The forward model ``name`` in eval mode with frozen weights on ``device`` (loaded once per device)."""
    return _load_model(name, device_key(device))


def load_mapping(name: str, device: str | torch.device | None = "cpu") -> nn.Module:
    """The trained Θ for model ``name`` in eval mode with frozen weights on ``device`` (loaded once per device)."""
    return _load_mapping(name, device_key(device))


def load_encoder(name: str, device: str | torch.device | None = "cpu") -> nn.Module:
    """The feed-forward encoder E of model ``name`` (``output -> input``), eval mode, frozen, on ``device``.

    Raises ``ValueError`` when the model has none and ``FileNotFoundError`` when its file is missing.
    """
    return _load_encoder(name, device_key(device))


@functools.cache
def _load_encoder(name: str, device: str) -> nn.Module:
    spec = get_spec(name)
    if spec.load_encoder is None:
        raise ValueError(f"model {name!r} has no feed-forward encoder")
    return spec.load_encoder().eval().requires_grad_(False).to(device)


@functools.cache
def _load_model(name: str, device: str) -> ForwardModel:
    model = get_spec(name).load()
    return model.eval().requires_grad_(False).to(device)


@functools.cache
def _load_mapping(name: str, device: str) -> nn.Module:
    spec = get_spec(name)
    if spec.load_mapping is None:
        raise ValueError(f"model {name!r} ships no mapping network")
    return spec.load_mapping().eval().requires_grad_(False).to(device)


# ``load_model.cache_clear()`` forgets every device's copy (tests register and drop tiny models).
load_model.cache_clear = _load_model.cache_clear
load_mapping.cache_clear = _load_mapping.cache_clear
load_encoder.cache_clear = _load_encoder.cache_clear
