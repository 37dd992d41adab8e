"""Registers ``mnist-classifier`` and ``mnist-classifier-robust`` (kind "classifier")."""

from __future__ import annotations

import functools

from engines.io.checkpoint import assets_present
from engines.models.mnist.model import ASSET_NAMES, load_classifier, load_defense_mapping
from engines.models.registry import ModelSpec, register_model

DESCRIPTIONS = {
    "mnist-classifier": "MNIST CNN classifier with a contrastive head, clean training",
    "mnist-classifier-robust": "MNIST CNN classifier with a contrastive head, PGD adversarial training",
}

for _name, _asset in ASSET_NAMES.items():
    register_model(
        ModelSpec(
            name=_name,
            description=DESCRIPTIONS[_name],
            output_kind="classifier",
            load=functools.partial(load_classifier, _name),
            load_mapping=functools.partial(load_defense_mapping, _name),
            available=functools.partial(assets_present, _asset),
        )
    )
