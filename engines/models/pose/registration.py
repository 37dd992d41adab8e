"""Registers ``pose32``, and ``vposer`` when ``$VPOSER_DIR`` and ``$SMPLX_MODEL_DIR`` are set.

Imported by :mod:`engines.models.registry` when models are first listed.
"""

from __future__ import annotations

import os

from engines.io.checkpoint import assets_present
from engines.models.pose.model import GENERATOR_ASSET, load_pose_mapping, load_prior
from engines.models.pose.smplx_vposer import load_vposer, vposer_available
from engines.models.registry import ModelSpec, register_model

register_model(
    ModelSpec(
        name="pose32",
        description="body-pose prior (VPoser-style VAE decoder, latent 32 -> 22 joints axis-angle) trained on CMU mocap",
        output_kind="pose",
        load=load_prior,
        load_mapping=load_pose_mapping,
        available=lambda: assets_present(GENERATOR_ASSET),
    )
)


def _register_vposer() -> None:
    """Offer ``vposer`` when ``$VPOSER_DIR`` and ``$SMPLX_MODEL_DIR`` are set (listed only when valid)."""
    if not (os.environ.get("VPOSER_DIR") and os.environ.get("SMPLX_MODEL_DIR")):
        return
    register_model(
        ModelSpec(
            name="vposer",
            description="VPoser V02_05 (latent 32 -> SMPL-X body pose 63) from $VPOSER_DIR, mesh from $SMPLX_MODEL_DIR",
            output_kind="pose",
            load=load_vposer,
            load_mapping=None,
            available=vposer_available,
        )
    )


_register_vposer()
