"""Registers the FFHQ face models (listed when their assets are present; see :mod:`engines.models.ffhq.model`)."""

from __future__ import annotations

import functools

from engines.models.ffhq.model import ffhq_available, load_ffhq
from engines.models.registry import ModelSpec, register_model

DESCRIPTIONS = {
    "ffhq64": "FFHQ faces 64×64 (MobileStyleGAN, StyleGAN2-class), X = z through the mapping network",
    "ffhq64-w": "FFHQ faces 64×64 (MobileStyleGAN, StyleGAN2-class), X = w − w_avg (one w for every layer)",
    "ffhq128": "FFHQ faces 128×128 (MobileStyleGAN, StyleGAN2-class), X = z (for GPU hosts)",
    "ffhq128-w": "FFHQ faces 128×128 (MobileStyleGAN, StyleGAN2-class), X = w − w_avg (for GPU hosts)",
}

for _name, _description in DESCRIPTIONS.items():
    register_model(
        ModelSpec(
            name=_name,
            description=_description,
            output_kind="image",
            load=functools.partial(load_ffhq, _name),
            available=functools.partial(ffhq_available, _name),
        )
    )
