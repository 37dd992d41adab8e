"""Registers ``stylegan2`` (X = z) and ``stylegan2-w`` (X = w − w_avg); listed only when ``$STYLEGAN2_PATH``
names a file (see :mod:`engines.models.stylegan2.model`). Loading without it raises an error saying what
to put where."""

from __future__ import annotations

import functools

from engines.models.registry import ModelSpec, register_model
from engines.models.stylegan2.model import load_stylegan2, load_stylegan2_mapping, stylegan2_available

DESCRIPTIONS = {
    "stylegan2": "StyleGAN2 generator from $STYLEGAN2_PATH, X = z",
    "stylegan2-w": "StyleGAN2 generator from $STYLEGAN2_PATH, X = w − w_avg (one w for every layer)",
}

for _name, _description in DESCRIPTIONS.items():
    register_model(
        ModelSpec(
            name=_name,
            description=_description,
            output_kind="image",
            load=functools.partial(load_stylegan2, _name),
            load_mapping=functools.partial(load_stylegan2_mapping, _name),
            available=stylegan2_available,
        )
    )
