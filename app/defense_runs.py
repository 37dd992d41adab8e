"""Adversarial defense as plain data: attack digits, reverse the attack in X and Z, say what happened.

No Gradio here: the Adversarial-defense tab and the ``/defend`` API endpoint both use these functions.
Digits are ``28 x 28`` floats in [0, 1] (white on black, as MNIST); labels are plain ints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from app.gpu import device_outside_gpu_functions
from app.runs import DivergenceGuard
from engines.core.attacks import pgd
from engines.core.defense import DefenseConfig, repair, reverse
from engines.models.registry import load_mapping, load_model

SAMPLES_DIR = Path(__file__).resolve().parent / "samples" / "mnist"
SPACES = ("x", "z")


@lru_cache(maxsize=1)
def digit_label(name: str) -> str:
    """How a bundled digit is listed: "Digit 0 (MNIST test 485)" for ``mnist_test_00485_digit0``."""
    parts = name.split("_")
    if len(parts) == 4 and parts[2].isdigit() and parts[3].startswith("digit"):
        return f"Digit {parts[3].removeprefix('digit')} (MNIST test {int(parts[2])})"
    return name


def sample_digits() -> dict[str, np.ndarray]:
    """Bundled test digits by name (``mnist_test_00485_digit0``...), ``28 x 28`` floats in [0, 1]."""
    return {path.stem: np.asarray(Image.open(path).convert("L"), np.float32) / 255 for path in sorted(SAMPLES_DIR.glob("*.png"))}  # fmt: skip


def true_label(name: str) -> int | None:
    """The digit a bundled sample shows, from its name (``..._digit3`` -> 3); None for other names."""
    stem, _, digit = name.rpartition("_digit")
    return int(digit) if stem and digit.isdigit() else None


def classify(model: str, images: torch.Tensor) -> np.ndarray:
    """Softmax probabilities ``B x 10`` of ``B x 1 x 28 x 28`` images."""
    net = load_model(model, device_outside_gpu_functions())
    with torch.no_grad():
        return torch.softmax(net(images.to(next(net.parameters()).device)), 1).cpu().numpy()


def attack_digits(model: str, digits: np.ndarray, attack: str, strength: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """PGD against the predicted classes of ``B x 28 x 28`` digits at ``strength`` × the benchmark's budget.

    Returns the adversarial digits ``B x 28 x 28``, the clean and the attacked predictions (``B`` ints).
    """
    from engines.models.mnist.model import attack_budget

    budget = attack_budget(model, attack)
    budget = dataclasses.replace(budget, epsilon=budget.epsilon * strength, step_size=budget.step_size * max(strength, 0.05))  # fmt: skip
    images = torch.as_tensor(np.asarray(digits, np.float32)).view(-1, 1, 28, 28)
    clean = classify(model, images).argmax(1)
    net = load_model(model, device_outside_gpu_functions())
    device = next(net.parameters()).device
    adversarial = pgd(net, images.to(device), torch.as_tensor(clean, device=device), budget, seed=seed).cpu()
    return adversarial.view(-1, 28, 28).numpy(), clean, classify(model, adversarial).argmax(1)


def defense_runs(model: str, digits: np.ndarray, steps: int) -> tuple[Iterator, Iterator, torch.Tensor]:
    """X- and Z-space reversal generators for ``B`` digits (``B x 784`` or ``B x 28 x 28``), each defended
    alone: the objective (the head's disagreement with a squeezed view) depends on that image only."""
    from engines.models.mnist.model import defense_contrastive, defense_settings

    device = device_outside_gpu_functions()
    net, mapping = load_model(model, device), load_mapping(model, device)
    config = DefenseConfig.from_dict(defense_settings(model))
    batch = torch.as_tensor(np.asarray(digits, np.float32).reshape(-1, 784)).to(device)
    contrastive = defense_contrastive(model, net, seed=config.seed).to(device)
    runs = [reverse(contrastive, batch, mapping=space, config=config, steps=steps) for space in (None, mapping)]
    return runs[0], runs[1], batch


@dataclass(frozen=True)
class DefenseStep:
    """One reversal step of both spaces, by space ("x", "z"): repaired ``B x 784`` images in [0, 1],
    reversals ``r`` (``B x 784``), class probabilities ``B x 10`` and per-image losses."""

    index: int
    repaired: dict[str, torch.Tensor]
    reversal: dict[str, torch.Tensor]
    probabilities: dict[str, np.ndarray]
    losses: dict[str, list[float]]

    def labels(self, space: str) -> list[int]:
        return [int(label) for label in self.probabilities[space].argmax(1)]


def defense_steps(model: str, adversarial: np.ndarray, steps: int) -> Iterator[DefenseStep]:
    """Steps ``0..steps`` of the X and Z reversals of ``adversarial`` digits, each classified.

    Raises ``ValueError`` naming the space and the step when a reversal diverges.
    """
    x_run, z_run, batch = defense_runs(model, adversarial, steps)
    guard = DivergenceGuard()  # the check every tab shares
    for pair in zip(x_run, z_run):
        if message := guard.check(pair):
            raise ValueError(message)
        repaired = {space: repair(batch.cpu(), step.x.cpu()) for space, step in zip(SPACES, pair)}
        yield DefenseStep(
            index=pair[0].index,
            repaired=repaired,
            reversal={space: step.x.cpu() for space, step in zip(SPACES, pair)},
            probabilities={space: classify(model, images.view(-1, 1, 28, 28)) for space, images in repaired.items()},
            losses={space: step.losses.tolist() for space, step in zip(SPACES, pair)},
        )


def repaired_at(labels: Sequence[int], reference: int) -> int | None:
    """The first step from which ``labels`` (one per step, step 0 first) equal ``reference`` to the end, or None."""
    at = None
    for step, label in enumerate(labels):
        at = (step if at is None else at) if label == reference else None
    return at


def _steps(count: int) -> str:
    return f"{count} step" + ("" if count == 1 else "s")


def _space_outcome(name: str, labels: Sequence[int], clean: int, fooled: bool) -> str:
    at, steps = repaired_at(labels, clean), _steps(len(labels) - 1)
    if fooled:
        return f"{name} repaired it at step {at}" if at is not None else f"{name} did not repair it (reads {labels[-1]} after {steps})"  # fmt: skip
    if at == 0:
        return f"{name} kept it right ({clean} at every step)"
    if at is not None:
        return f"{name} read it right again from step {at}"
    return f"{name} changed it to {labels[-1]} after {steps}"


def defense_sentence(clean: int | None, attacked: int, x_labels: Sequence[int], z_labels: Sequence[int]) -> str:
    """What a defense did, in one sentence: whether the attack fooled the classifier, whether X and Z
    repaired it and at which step (labels: the prediction at each step, step 0 first). ``clean`` None:
    the clean prediction is unknown (only what X and Z read is said)."""
    if not x_labels or not z_labels:
        return ""
    if clean is None:
        return f"After {_steps(len(x_labels) - 1)} X reads {x_labels[-1]} and Z reads {z_labels[-1]}."
    fooled = attacked != clean
    head = f"The attack fooled the classifier ({clean} → {attacked})" if fooled else f"The attack did not fool the classifier (it still reads {clean})"  # fmt: skip
    spaces = [_space_outcome(name, labels, clean, fooled) for name, labels in (("X", x_labels), ("Z", z_labels))]
    return f"{head}; {spaces[0]}; {spaces[1]}."


@dataclass(frozen=True)
class BatchDefense:
    """The defense of several digits: true labels, predictions clean / attacked, and per step per space."""

    truth: list[int]
    clean: list[int]
    attacked: list[int]
    labels: dict[str, list[list[int]]]  # space -> per step -> per digit

    def accuracy_rows(self) -> list[list]:
        """[stage, correct, accuracy] rows: clean, attacked, then X and Z after step 1 and after the last step."""
        rows = [("clean", self.clean), ("attacked", self.attacked)]
        last = len(self.labels["x"]) - 1
        for space in SPACES:
            rows += [(f"{space.upper()} after step {index}", self.labels[space][index]) for index in sorted({min(1, last), last})]  # fmt: skip
        return [[stage, f"{self.correct(labels)}/{len(self.truth)}", round(self.correct(labels) / len(self.truth), 3)] for stage, labels in rows]  # fmt: skip

    def correct(self, labels: Sequence[int]) -> int:
        return sum(int(label == truth) for label, truth in zip(labels, self.truth))

    def digit_rows(self) -> list[list]:
        """[digit, clean, attacked, X at the end, Z at the end, X repaired at, Z repaired at] per digit."""
        rows = []
        for item, truth in enumerate(self.truth):
            per_space = {space: [step[item] for step in self.labels[space]] for space in SPACES}
            at = [repaired_at(per_space[space], truth) for space in SPACES]
            ends = [per_space[space][-1] for space in SPACES]
            rows.append([truth, self.clean[item], self.attacked[item], *ends, *("–" if a is None else a for a in at)])
        return rows


def defend_samples(model: str, attack: str, strength: float, steps: int, seed: int = 0) -> BatchDefense:
    """Attack every bundled digit and reverse the attacks in X and Z (one batch), for the accuracy table."""
    names = list(sample_digits())
    digits = np.stack([sample_digits()[name] for name in names])
    adversarial, clean, attacked = attack_digits(model, digits, attack, strength, seed)
    labels: dict[str, list[list[int]]] = {space: [] for space in SPACES}
    for step in defense_steps(model, adversarial, steps):
        for space in SPACES:
            labels[space].append(step.labels(space))
    truth = [true_label(name) for name in names]
    return BatchDefense(truth=truth, clean=clean.tolist(), attacked=attacked.tolist(), labels=labels)
