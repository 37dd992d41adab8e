"""BigGAN as a class-conditional F: ``forward_conditional(z: B x 128, c: B x 128) -> B x 3 x R x R``.

The network is ``pytorch_pretrained_biggan.BigGAN(config)``; the weights come from the folder named by
``$BIGGAN_PATH`` holding ``config.json`` and ``pytorch_model.bin`` (the files the package's
``from_pretrained`` fetches, e.g. for ``biggan-deep-128``), read with ``torch.load(weights_only=True)``.
Nothing is downloaded. The class embedding of a label is the model's ``embeddings`` linear layer applied
to its one-hot vector; ``forward(z)`` uses the mean class embedding. BigGAN ships no classifier
(``classifier`` is None): the class is given by the user.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from engines.io.images import prepare_image
from engines.models.registry import ForwardModel

WEIGHTS_ENV = "BIGGAN_PATH"
CONFIG_NAME, WEIGHTS_NAME = "config.json", "pytorch_model.bin"


def how_to_get_weights() -> str:
    return (
        f"set ${WEIGHTS_ENV} to a folder holding {CONFIG_NAME} and {WEIGHTS_NAME} of a pytorch-pretrained-biggan "
        "model (e.g. the biggan-deep-128 files that BigGAN.from_pretrained caches)"
    )


def weights_folder() -> Path:
    """The folder ``$BIGGAN_PATH`` names; ``FileNotFoundError`` saying what to put where otherwise."""
    value = os.environ.get(WEIGHTS_ENV)
    if not value:
        raise FileNotFoundError(f"BigGAN weights not configured: {how_to_get_weights()}")
    folder = Path(value).expanduser()
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} not found (from ${WEIGHTS_ENV}): {how_to_get_weights()}")
    return folder


def biggan_available() -> bool:
    try:
        weights_folder()
    except FileNotFoundError:
        return False
    return True


class BigGANForward(ForwardModel):
    """F for BigGAN: ``forward_conditional(z: B x z_dim, c: B x z_dim) -> B x 3 x R x R`` in [-1, 1]."""

    output_kind = "image"
    conditional = True

    def __init__(self, biggan: nn.Module, truncation: float = 1.0):
        super().__init__()
        if not 0 < truncation <= 1:
            raise ValueError(f"truncation must be in (0, 1], got {truncation}")
        config = biggan.config
        self.biggan, self.truncation = biggan, truncation
        self.input_dim = self.embedding_dim = config.z_dim
        self.num_classes = config.num_classes
        self.output_shape = (3, config.output_dim, config.output_dim)
        self.classifier = None  # BigGAN ships no classifier: the class is given (ImageNet index)

    def class_embedding(self, labels: Tensor) -> Tensor:
        """``B`` class indices (long) -> ``B x z_dim``: ``embeddings`` applied to their one-hot vectors."""
        one_hot = nn.functional.one_hot(labels, self.num_classes).to(self.biggan.embeddings.weight.dtype)
        return self.biggan.embeddings(one_hot)

    def mean_embedding(self) -> Tensor:
        """``z_dim``: the mean class embedding (the class ``forward(z)`` uses)."""
        return self.biggan.embeddings.weight.mean(dim=1)

    def forward_conditional(self, z: Tensor, c: Tensor) -> Tensor:
        return self.biggan.generator(torch.cat([z, c], dim=1), self.truncation)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_conditional(x, self.mean_embedding().expand(len(x), -1))

    def prepare_target(self, source: Any) -> tuple[Tensor, str]:
        prepared = prepare_image(source, self.output_shape[-1])
        return prepared.tensor, prepared.notice


def read_biggan(folder: Path) -> nn.Module:
    """``pytorch_pretrained_biggan.BigGAN`` built from ``folder/config.json`` with ``folder/pytorch_model.bin``."""
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    config = BigGANConfig.from_dict(json.loads((folder / CONFIG_NAME).read_text()))
    config.layers = [tuple(layer) for layer in config.layers]
    biggan = BigGAN(config)
    try:
        state = torch.load(folder / WEIGHTS_NAME, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"{folder / WEIGHTS_NAME} is not a readable weights-only PyTorch file: {error}") from error
    missing, unexpected = biggan.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{folder / WEIGHTS_NAME} does not fit its {CONFIG_NAME}: missing {missing}, unexpected {unexpected}"
        )
    return biggan


def load_biggan() -> BigGANForward:
    """The registered ``biggan`` from ``$BIGGAN_PATH`` (truncation ``$BIGGAN_TRUNCATION``, default 1)."""
    return BigGANForward(read_biggan(weights_folder()), float(os.environ.get("BIGGAN_TRUNCATION", "1.0")))
