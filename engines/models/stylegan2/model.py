"""StyleGAN2 as F (the landscape-learning paper's face model), with X = z or X = w selectable.

Point ``$STYLEGAN2_PATH`` to the weights: a rosinality/stylegan2-pytorch checkpoint
(e.g. ``stylegan2-ffhq-config-f.pt`` holding ``g_ema``), an official NVlabs network pickle
(e.g. ``ffhq.pkl`` from stylegan2-ada-pytorch; read without running code from it), or a
``.safetensors`` + ``.json`` written by ``python -m engines.models.stylegan2.convert``. Nothing
is downloaded. Two models are then listed:

- ``stylegan2``: X = z (``z_dim``), ``F(z) = G(z)``;
- ``stylegan2-w``: X = w − w_avg (``w_dim``), ``F(x) = synthesis(w_avg + x)`` with the same w at every
  layer, so x = 0 is the average image.

A trained Θ for either is read from ``$STYLEGAN2_MAPPING_DIR/<model>_mapping.safetensors`` (train
it with ``python -m engines.train mapping --model stylegan2-w --out DIR/stylegan2-w_mapping.safetensors``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import Tensor

from engines.core.mapping import MappingNetwork, load_mapping_file
from engines.io.images import prepare_image
from engines.models.registry import ForwardModel
from engines.models.stylegan2.convert import read_generator
from engines.models.stylegan2.network import Generator

WEIGHTS_ENV, MAPPING_ENV = "STYLEGAN2_PATH", "STYLEGAN2_MAPPING_DIR"
SPACES = {"stylegan2": "z", "stylegan2-w": "w"}


def how_to_get_weights() -> str:
    return (
        f"set ${WEIGHTS_ENV} to a StyleGAN2 generator file: a rosinality/stylegan2-pytorch checkpoint "
        "(e.g. stylegan2-ffhq-config-f.pt, with 'g_ema'), an official NVlabs stylegan2-ada-pytorch network "
        "pickle (e.g. ffhq.pkl) or a .safetensors + .json made by python -m engines.models.stylegan2.convert"
    )


class StyleGAN2Forward(ForwardModel):
    """F: ``B x input_dim`` (z, or w − w_avg) -> image ``B x 3 x R x R`` (roughly in [-1, 1])."""

    output_kind = "image"

    def __init__(self, generator: Generator, space: str = "z"):
        super().__init__()
        if space not in ("z", "w"):
            raise ValueError(f"StyleGAN2 input space must be 'z' or 'w', got {space!r}")
        self.generator, self.space = generator, space
        config = generator.config
        self.input_dim = config.z_dim if space == "z" else config.w_dim
        self.output_shape = (3, config.resolution, config.resolution)

    def forward(self, x: Tensor) -> Tensor:
        if self.space == "z":
            return self.generator(x)
        return self.generator.synthesise(self.generator.mapping.w_avg + x)

    def prepare_target(self, source: Any) -> tuple[Tensor, str]:
        prepared = prepare_image(source, self.output_shape[-1])
        return prepared.tensor, prepared.notice


def weights_path() -> Path:
    """The file ``$STYLEGAN2_PATH`` names; ``FileNotFoundError`` saying what to put where otherwise."""
    value = os.environ.get(WEIGHTS_ENV)
    if not value:
        raise FileNotFoundError(f"StyleGAN2 weights not configured: {how_to_get_weights()}")
    path = Path(value).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"StyleGAN2 weights not found at {path} (from ${WEIGHTS_ENV}): {how_to_get_weights()}")
    return path


def load_stylegan2(name: str) -> StyleGAN2Forward:
    """The registered model ``name`` (``stylegan2`` or ``stylegan2-w``) from ``$STYLEGAN2_PATH``."""
    return StyleGAN2Forward(read_generator(weights_path()), SPACES[name])


def load_stylegan2_mapping(name: str) -> MappingNetwork:
    """Θ for ``name`` from ``$STYLEGAN2_MAPPING_DIR/<name>_mapping.safetensors`` (+ ``.json``)."""
    folder = os.environ.get(MAPPING_ENV)
    if not folder:
        raise FileNotFoundError(
            f"no Θ for {name}: set ${MAPPING_ENV} to the folder holding {name}_mapping.safetensors and .json "
            f"(python -m engines.train mapping --model {name} --out DIR/{name}_mapping.safetensors)"
        )
    return load_mapping_file(Path(folder) / f"{name}_mapping.safetensors")


def stylegan2_available() -> bool:
    try:
        weights_path()
    except FileNotFoundError:
        return False
    return True
