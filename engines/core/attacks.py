"""Adversarial attacks on image classifiers: PGD (L2, L∞) through ``torchattacks``, and BPDA.

BPDA (Athalye et al., 2018) is the adaptive attack on a test-time defense: PGD on
``classifier(defend(x))``, where the backward pass treats the defense as the identity
(straight-through), since it is an inner optimisation that cannot usefully be differentiated.
Images are ``B x C x H x W`` in [0, 1]; classifiers return ``B x classes`` logits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

ATTACKS = ("pgd-l2", "pgd-linf", "bpda")


@dataclass(frozen=True, kw_only=True)
class AttackConfig:
    """Budget of one PGD attack: ``norm`` "l2" or "linf", radius ``epsilon``, ``steps`` of size ``step_size``."""

    norm: str = "linf"
    epsilon: float = 0.2
    steps: int = 20
    step_size: float = 0.02
    random_start: bool = True

    def __post_init__(self) -> None:
        if self.norm not in ("l2", "linf"):
            raise ValueError(f"norm must be 'l2' or 'linf', got {self.norm!r}")
        if self.epsilon < 0 or self.steps < 0 or self.step_size <= 0:
            raise ValueError("epsilon and steps must be >= 0 and step_size > 0")


def pgd(classifier: nn.Module, images: Tensor, labels: Tensor, config: AttackConfig, *, seed: int = 0) -> Tensor:
    """Untargeted PGD adversarial examples ``B x C x H x W`` (torchattacks' PGD / PGDL2), seeded start.

    The classifier is put in eval mode for the attack and restored afterwards.
    """
    import torchattacks

    if config.epsilon == 0 or config.steps == 0:
        return images.detach().clone()
    kind = torchattacks.PGD if config.norm == "linf" else torchattacks.PGDL2
    attack = kind(
        classifier, eps=config.epsilon, alpha=config.step_size, steps=config.steps, random_start=config.random_start
    )
    was_training = classifier.training
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        adversarial = attack(images, labels)
    classifier.train(was_training)
    return adversarial.detach()


class StraightThrough(nn.Module):
    """``classifier(defend(x))`` whose gradient in ``x`` is that of ``classifier`` at ``defend(x)`` (BPDA).

    defend: ``B x C x H x W`` -> repaired images of the same shape (any inner optimisation).
    """

    def __init__(self, classifier: nn.Module, defend: Callable[[Tensor], Tensor]):
        super().__init__()
        self.classifier = classifier
        self.defend = defend

    def forward(self, images: Tensor) -> Tensor:
        repaired = self.defend(images.detach())
        return self.classifier(images + (repaired - images).detach())


def bpda(
    classifier: nn.Module,
    defend: Callable[[Tensor], Tensor],
    images: Tensor,
    labels: Tensor,
    config: AttackConfig,
    *,
    seed: int = 0,
) -> Tensor:
    """PGD through the defense with a straight-through backward pass; ``B x C x H x W`` adversarial images."""
    return pgd(StraightThrough(classifier, defend).train(classifier.training), images, labels, config, seed=seed)


def accuracy(classifier: nn.Module, images: Tensor, labels: Tensor, *, batch_size: int = 1000) -> float:
    """Top-1 accuracy in 0..1 of ``classifier`` on ``B x C x H x W`` images."""
    with torch.no_grad():
        correct = sum(
            int((classifier(images[i : i + batch_size]).argmax(1) == labels[i : i + batch_size]).sum())
            for i in range(0, len(images), batch_size)
        )
    return correct / max(1, len(images))


def roc_auc(negatives: Tensor, positives: Tensor) -> float:
    """Area under the ROC curve of a score that should be higher on ``positives`` (ties count half).

    The Mann–Whitney form: the chance that a random positive scores above a random negative.
    """
    negatives, positives = negatives.flatten().double(), positives.flatten().double()
    if len(negatives) == 0 or len(positives) == 0:
        raise ValueError("roc_auc needs at least one negative and one positive score")
    above = (positives[:, None] > negatives[None, :]).double().mean()
    ties = (positives[:, None] == negatives[None, :]).double().mean()
    return float(above + 0.5 * ties)
