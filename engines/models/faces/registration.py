"""Registers ``faces64`` (imported by :mod:`engines.models.registry` when models are first listed)."""

from __future__ import annotations

from engines.io.checkpoint import assets_present
from engines.models.faces.encoder import load_face_encoder
from engines.models.faces.model import load_face_mapping, load_generator
from engines.models.registry import ModelSpec, register_model

register_model(
    ModelSpec(
        name="faces64",
        description="64×64 face GAN generator (latent 128) trained on CelebA 1–8000",
        output_kind="image",
        load=load_generator,
        load_mapping=load_face_mapping,
        available=lambda: assets_present("faces64_generator"),
        load_encoder=load_face_encoder,
    )
)
