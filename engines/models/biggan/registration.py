"""Registers ``biggan``; listed only when ``$BIGGAN_PATH`` names a folder with config.json and
pytorch_model.bin (see :mod:`engines.models.biggan.model`)."""

from __future__ import annotations

from engines.models.biggan.model import biggan_available, load_biggan
from engines.models.registry import ModelSpec, register_model

register_model(
    ModelSpec(
        name="biggan",
        description="BigGAN (pytorch-pretrained-biggan architecture) from $BIGGAN_PATH, class-conditional",
        output_kind="image",
        load=load_biggan,
        available=biggan_available,
        conditional=True,
    )
)
