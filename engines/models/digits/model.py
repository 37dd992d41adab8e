"""The embedded class-conditional model ``digits``: G(z, c) -> a 28×28 grey digit shown as RGB.

G takes ``z`` (``B x latent_dim``) and a continuous class embedding ``c`` (``B x embedding_dim``,
a row of the learned class-embedding table, or anything between rows) and draws a digit; grey is
repeated over three channels, the frame every image model of the project uses (``B x 3 x 28 x 28``
in [-1, 1]). ``forward(z)`` uses the mean class embedding, so X/Z inversion code runs unchanged.
A small classifier (``digits_classifier``) gives the initial class of a target.
Trained on MNIST train (60,000 digits); MNIST test is never trained on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from engines.core.mapping import MappingNetwork, load_mapping_file
from engines.io.checkpoint import load_module_state, load_tensors, resolve_asset, save_module
from engines.io.images import prepare_image
from engines.models.registry import ForwardModel

IMAGE_SIZE = 28
NUM_CLASSES = 10


@dataclass(frozen=True, kw_only=True)
class DigitsConfig:
    """Architecture of the digit generator: z and class-embedding sizes, widths at 7×7 / 14×14 / 28×28."""

    latent_dim: int = 64
    embedding_dim: int = 32
    num_classes: int = NUM_CLASSES
    channels: tuple[int, int, int] = (64, 32, 16)

    def __post_init__(self) -> None:
        if min(self.latent_dim, self.embedding_dim, self.num_classes) < 1:
            raise ValueError("latent_dim, embedding_dim and num_classes must be >= 1")
        if len(self.channels) != 3:
            raise ValueError(f"channels needs 3 widths (7×7, 14×14, 28×28), got {self.channels}")

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, data: dict) -> DigitsConfig:
        return cls(**{**data, "channels": tuple(data["channels"])})


class DigitsNet(nn.Module):
    """G(z, c): ``B x latent_dim`` and ``B x embedding_dim`` -> ``B x 1 x 28 x 28`` in [-1, 1].

    Holds the class-embedding table (``num_classes x embedding_dim``); c enters by concatenation with z.
    """

    def __init__(self, config: DigitsConfig):
        super().__init__()
        wide, middle, narrow = config.channels
        self.embedding = nn.Embedding(config.num_classes, config.embedding_dim)
        self.base = nn.Linear(config.latent_dim + config.embedding_dim, wide * 49)
        self.body = nn.Sequential(
            nn.BatchNorm2d(wide),
            nn.ReLU(),
            nn.ConvTranspose2d(wide, middle, 4, stride=2, padding=1),
            nn.BatchNorm2d(middle),
            nn.ReLU(),
            nn.ConvTranspose2d(middle, narrow, 4, stride=2, padding=1),
            nn.BatchNorm2d(narrow),
            nn.ReLU(),
            nn.Conv2d(narrow, 1, 3, padding=1),
            nn.Tanh(),
        )
        self.wide = wide

    def forward(self, z: Tensor, c: Tensor) -> Tensor:
        return self.body(self.base(torch.cat([z, c], dim=1)).view(-1, self.wide, 7, 7))


class DigitsClassifier(nn.Module):
    """``B x C x 28 x 28`` in [-1, 1] (C = 1 or 3, channels averaged) -> ``B x 10`` logits."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * width * 49, 128),
            nn.ReLU(),
            nn.Linear(128, NUM_CLASSES),
        )
        self.width = width

    def forward(self, images: Tensor) -> Tensor:
        grey = images.mean(dim=1, keepdim=True)
        if grey.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
            grey = nn.functional.interpolate(grey, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True)
        return self.body(grey)


class DigitsGenerator(ForwardModel):
    """F for digits, class-conditional: ``forward_conditional(z: B x 64, c: B x 32) -> B x 3 x 28 x 28``.

    ``forward(z)`` draws with the mean class embedding. ``classifier(images) -> B x 10`` logits.
    """

    output_kind = "image"
    conditional = True

    def __init__(self, config: DigitsConfig, classifier: DigitsClassifier | None = None):
        super().__init__()
        self.config = config
        self.net = DigitsNet(config)
        self.classifier = classifier if classifier is not None else DigitsClassifier()
        self.input_dim = config.latent_dim
        self.embedding_dim = config.embedding_dim
        self.num_classes = config.num_classes
        self.output_shape = (3, IMAGE_SIZE, IMAGE_SIZE)

    def class_embedding(self, labels: Tensor) -> Tensor:
        """``B`` class indices (long) -> ``B x embedding_dim`` rows of the embedding table."""
        return self.net.embedding(labels)

    def mean_embedding(self) -> Tensor:
        """``embedding_dim``: the mean of the embedding table (the class ``forward(z)`` uses)."""
        return self.net.embedding.weight.mean(dim=0)

    def forward_conditional(self, z: Tensor, c: Tensor) -> Tensor:
        return self.net(z, c).expand(-1, 3, -1, -1)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_conditional(x, self.mean_embedding().expand(len(x), -1))

    def prepare_target(self, source: Any) -> tuple[Tensor, str]:
        prepared = prepare_image(source, IMAGE_SIZE)
        return prepared.tensor, prepared.notice


def save_digits_net(path: Path, net: DigitsNet, config: DigitsConfig, extra: dict) -> None:
    save_module(path, net, {"kind": "digits-generator", "model": config.to_dict(), **extra})


def save_digits_classifier(path: Path, classifier: DigitsClassifier, extra: dict) -> None:
    save_module(path, classifier, {"kind": "digits-classifier", "width": classifier.width, **extra})


def load_digits_classifier(path: Path | None = None) -> DigitsClassifier:
    path = path or resolve_asset("digits_classifier")
    tensors, meta = load_tensors(path)
    return load_module_state(DigitsClassifier(meta["width"]), tensors, path)


def load_digits(path: Path | None = None, classifier_path: Path | None = None) -> DigitsGenerator:
    """The shipped ``digits`` model: generator ``digits_generator`` with classifier ``digits_classifier``."""
    path = path or resolve_asset("digits_generator")
    tensors, meta = load_tensors(path)
    model = DigitsGenerator(DigitsConfig.from_dict(meta["model"]), load_digits_classifier(classifier_path))
    load_module_state(model.net, tensors, path)
    return model


def load_digits_mapping(path: Path | None = None) -> MappingNetwork:
    return load_mapping_file(path or resolve_asset("digits_mapping"))
