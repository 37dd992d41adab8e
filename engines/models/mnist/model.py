"""A small CNN digit classifier F′ whose backbone also feeds a SimCLR-style contrastive head F.

``mnist-classifier`` is trained on clean images, ``mnist-classifier-robust`` with PGD adversarial
training; both train the contrastive head jointly (NT-Xent on two augmented views of each clean
image), on the MNIST training split only. The test-time defense lowers the head's contrastive loss.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from engines.core.attacks import AttackConfig
from engines.core.contrastive import AugmentConfig, ContrastiveLoss, SqueezeAgreement
from engines.core.mapping import MappingNetwork, load_mapping_file
from engines.io.checkpoint import ASSETS_DIR, load_module_state, load_tensors, resolve_asset, save_tensors
from engines.models.registry import ForwardModel

IMAGE_SHAPE = (1, 28, 28)
# Temperature of the defense's soft 1-bit squeeze, chosen on training images (defense-signal bench).
SQUEEZE_TEMPERATURE = 0.1
ASSET_NAMES = {"mnist-classifier": "mnist_classifier", "mnist-classifier-robust": "mnist_classifier_robust"}
# Attack budgets per classifier (README, "Adversarial defense"); bpda uses the L∞ one.
ATTACK_BUDGETS = {
    "mnist-classifier": {
        "l2": AttackConfig(norm="l2", epsilon=2.0, steps=20, step_size=0.25),
        "linf": AttackConfig(norm="linf", epsilon=0.15, steps=20, step_size=0.02),
    },
    "mnist-classifier-robust": {
        "l2": AttackConfig(norm="l2", epsilon=2.5, steps=20, step_size=0.25),
        "linf": AttackConfig(norm="linf", epsilon=0.25, steps=20, step_size=0.025),
    },
}


def attack_budget(model: str, attack: str) -> AttackConfig:
    """The budget of ``attack`` ("pgd-l2", "pgd-linf" or "bpda") on classifier ``model``."""
    return ATTACK_BUDGETS[model]["l2" if attack == "pgd-l2" else "linf"]


@dataclass(frozen=True, kw_only=True)
class MnistNetConfig:
    """Two conv blocks (``channels``), a ``features``-wide backbone output, a ``projection``-wide head."""

    channels: tuple[int, int] = (32, 64)
    features: int = 128
    projection: int = 64

    def __post_init__(self) -> None:
        if len(self.channels) != 2 or min(self.channels) < 1 or self.features < 1 or self.projection < 1:
            raise ValueError("MnistNetConfig needs two positive channel counts and positive widths")

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, data: dict) -> MnistNetConfig:
        return cls(**{**data, "channels": tuple(data["channels"])})


class MnistNet(ForwardModel):
    """Images ``B x 1 x 28 x 28`` (or flat ``B x 784``) in [0, 1] -> ``B x 10`` logits; :meth:`embed` -> head."""

    input_dim = 784
    output_kind = "classifier"
    output_shape = (10,)

    def __init__(self, config: MnistNetConfig | None = None):
        super().__init__()
        self.config = config or MnistNetConfig()
        first, second = self.config.channels
        self.backbone = nn.Sequential(
            nn.Conv2d(1, first, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(first, second, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(second * 49, self.config.features),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(self.config.features, 10)
        self.head = nn.Sequential(
            nn.Linear(self.config.features, self.config.features),
            nn.ReLU(),
            nn.Linear(self.config.features, self.config.projection),
        )

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier(self.backbone(images.reshape(-1, *IMAGE_SHAPE)))

    def embed(self, images: Tensor) -> Tensor:
        """Contrastive projections ``B x projection`` of ``B x 1 x 28 x 28`` images."""
        return self.head(self.backbone(images.reshape(-1, *IMAGE_SHAPE)))

    def prepare_target(self, source: Any) -> tuple[Tensor, str]:
        raise ValueError("a classifier has no inversion targets")


def save_classifier(path: Path, net: MnistNet, extra: dict) -> None:
    save_tensors(path, net.state_dict(), {"model": net.config.to_dict(), **extra})


def load_classifier_file(path: Path) -> MnistNet:
    tensors, meta = load_tensors(path)
    net = MnistNet(MnistNetConfig.from_dict(meta["model"]))
    return load_module_state(net, tensors, path)


def load_classifier(name: str) -> MnistNet:
    """The shipped classifier ``mnist-classifier`` or ``mnist-classifier-robust`` (from ``assets/``)."""
    return load_classifier_file(resolve_asset(ASSET_NAMES[name]))


def load_defense_mapping(name: str) -> MappingNetwork:
    """The Θ trained for ``name``'s defense (``assets/<asset>_mapping``)."""
    return load_mapping_file(resolve_asset(ASSET_NAMES[name] + "_mapping"))


@functools.cache
def _read_asset(asset: str) -> tuple[dict[str, Tensor], dict]:
    """An asset's tensors and metadata, read once per process (every Defend click needs both of these)."""
    return load_tensors(resolve_asset(asset))


def defense_settings(name: str) -> dict:
    """The defense settings for ``name``: those Θ was trained with (its .json ``defense`` section), overridden by
    the test-time settings chosen on training images (``assets/<asset>_defense.json``, scripts/defense_sweep.py)."""
    _, meta = _read_asset(ASSET_NAMES[name] + "_mapping")
    settings = dict(meta.get("defense", {}))
    chosen = ASSETS_DIR / f"{ASSET_NAMES[name]}_defense.json"
    if chosen.is_file():
        settings.update(json.loads(chosen.read_text())["settings"])
    return settings


def load_negative_bank(name: str) -> Tensor:
    """The defense's fixed negatives for ``name``: ``K x D`` head embeddings of clean training images
    (a fresh copy: the cached one is never handed out)."""
    tensors, _ = _read_asset(ASSET_NAMES[name] + "_bank")
    return tensors["bank"].clone()


def training_augment(meta: dict) -> AugmentConfig:
    """The augmentations a classifier's head was trained with (its saved ``train`` settings; defaults if absent)."""
    train = meta.get("train", {})
    defaults = AugmentConfig()
    return AugmentConfig(
        max_shift=train.get("augment_shift", defaults.max_shift),
        max_rotation=train.get("augment_rotation", defaults.max_rotation),
        noise=train.get("augment_noise", defaults.noise),
    )


def defense_contrastive(name: str, net: MnistNet, *, seed: int = 0) -> SqueezeAgreement:
    """The objective the defense lowers for ``name``: the head's disagreement with a squeezed view.

    It replaced NT-Xent of random warps against a clean bank (``bank_contrastive``), which did not tell
    attacked training images from clean ones (ROC AUC 0.49–0.52, ``python -m engines.bench defense-signal``).
    ``seed`` is accepted for the interface; the objective is deterministic.
    """
    del name, seed
    return SqueezeAgreement(net.embed, temperature=SQUEEZE_TEMPERATURE)


def bank_contrastive(name: str, net: MnistNet, *, seed: int = 0, views: int = 2) -> ContrastiveLoss:
    """The former defense objective: NT-Xent of ``views`` warped views against ``name``'s clean negative bank."""
    _, meta = _read_asset(ASSET_NAMES[name])
    augment = training_augment(meta)
    return ContrastiveLoss(net.embed, views=views, seed=seed, bank=load_negative_bank(name), augment_config=augment)


def training_images(images: Any) -> Tensor:
    """``N x 28 x 28`` uint8 array -> ``N x 1 x 28 x 28`` float tensor in [0, 1]."""
    return torch.as_tensor(images).float().div(255).unsqueeze(1)
