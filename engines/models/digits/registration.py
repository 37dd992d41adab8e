"""Registers ``digits`` (imported by :mod:`engines.models.registry` when models are first listed)."""

from __future__ import annotations

from engines.io.checkpoint import assets_present
from engines.models.digits.model import load_digits, load_digits_mapping
from engines.models.registry import ModelSpec, register_model

register_model(
    ModelSpec(
        name="digits",
        description="28×28 class-conditional MNIST digit GAN (z 64, class embedding 32) trained on MNIST train",
        output_kind="image",
        load=load_digits,
        load_mapping=load_digits_mapping,
        available=lambda: assets_present("digits_generator", "digits_classifier"),
        conditional=True,
    )
)
