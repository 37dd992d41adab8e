"""Training the MNIST classifier and its contrastive head (jointly), optionally with PGD adversarial training."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from engines.core.attacks import AttackConfig, pgd
from engines.core.contrastive import AugmentConfig, ContrastiveLoss
from engines.models.mnist.model import MnistNet, MnistNetConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ClassifierTrainConfig:
    """Epochs of Adam on cross-entropy + ``contrastive_weight`` × NT-Xent; ``adversarial_steps`` > 0 trains on PGD-L∞."""

    epochs: int = 2
    batch_size: int = 128
    lr: float = 1e-3
    contrastive_weight: float = 1.0
    temperature: float = 0.2
    adversarial_epsilon: float = 0.3
    adversarial_steps: int = 0
    adversarial_step_size: float = 0.1
    limit: int = 60000
    views: int = 2
    augment_noise: float = 0.0
    augment_shift: float = 0.1
    augment_rotation: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.limit < 2 or self.adversarial_steps < 0 or self.views < 2:
            raise ValueError(
                "ClassifierTrainConfig needs epochs >= 1, batch_size >= 2, limit >= 2, steps >= 0, views >= 2"
            )

    @property
    def augment(self) -> AugmentConfig:
        """The views' augmentations (the defense must use the same ones: they are saved with the classifier)."""
        return AugmentConfig(max_shift=self.augment_shift, max_rotation=self.augment_rotation, noise=self.augment_noise)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def train_classifier(
    images: Tensor,
    labels: Tensor,
    model_config: MnistNetConfig,
    config: ClassifierTrainConfig,
    *,
    init: dict[str, Tensor] | None = None,
) -> Iterator[dict]:
    """Train an :class:`MnistNet` (fresh, or from the state ``init``); yields ``{"epoch", "net", "loss",
    "accuracy", "seconds"}`` per epoch.

    images: ``N x 1 x 28 x 28`` in [0, 1] (shuffled here with ``config.seed``); labels: ``N``.
    """
    torch.manual_seed(config.seed)
    net = MnistNet(model_config)
    if init is not None:
        net.load_state_dict(init)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    contrastive = ContrastiveLoss(
        net.embed, views=config.views, temperature=config.temperature, augment_config=config.augment, seed=config.seed
    )
    attack = AttackConfig(
        norm="linf",
        epsilon=config.adversarial_epsilon,
        steps=config.adversarial_steps,
        step_size=config.adversarial_step_size,
    )
    generator = torch.Generator().manual_seed(config.seed)
    count = min(config.limit, len(images))
    started = time.time()
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(images), generator=generator)[:count]
        total, correct = 0.0, 0
        for batch, start in enumerate(range(0, count, config.batch_size)):
            index = order[start : start + config.batch_size]
            clean, target = images[index], labels[index]
            seen = pgd(net, clean, target, attack, seed=config.seed + epoch * 100000 + batch) if attack.steps else clean
            net.train()
            logits = net(seen)
            loss = F.cross_entropy(logits, target) + config.contrastive_weight * contrastive(clean).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
            correct += int((logits.argmax(1) == target).sum())
        record = {"epoch": epoch, "loss": total / count, "accuracy": correct / count}
        logger.info("epoch %d: %s", epoch, record)
        yield {**record, "net": net.eval(), "seconds": time.time() - started}
