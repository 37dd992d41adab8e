"""``python -m engines.bench defense``: robust accuracy of the reversal defense, X-space vs Z-space (Table 1/2).

    python -m engines.bench defense --model mnist-classifier --data FILE.npz --n 1000 \
        --attack pgd-linf --defense-steps 0,1,3,5 --seed 0 --json OUT.json

FILE.npz holds ``x_test`` (N x 28 x 28 uint8) and ``y_test``; the first ``--n`` are used. The
attack budgets are :data:`engines.models.mnist.model.ATTACK_BUDGETS` (README, "Adversarial defense"); ``bpda`` attacks each defense
through itself at the largest step count (straight-through) with the L∞ budget.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from engines.core.attacks import ATTACKS, accuracy, bpda, pgd
from engines.core.contrastive import ContrastiveLoss
from engines.core.defense import DefenseConfig, repair, reverse
from engines.core.device import add_device_argument, resolve_device

BATCH = 100  # images per defense batch (the negatives are a fixed bank: results do not depend on the batch)


def load_case(path: Path, n: int) -> tuple[Tensor, Tensor]:
    """The first ``n`` images ``n x 1 x 28 x 28`` in [0, 1] and labels of a ``x_test``/``y_test`` file."""
    with np.load(path) as data:
        images = torch.as_tensor(data["x_test"][:n]).float().div(255).unsqueeze(1)
        return images, torch.as_tensor(data["y_test"][:n]).long()


class Defense:
    """One defense (X-space when ``mapping`` is None) run batch by batch on a device."""

    def __init__(self, net: nn.Module, mapping: nn.Module | None, config: DefenseConfig, contrastive: ContrastiveLoss):
        self.net, self.mapping, self.config, self.contrastive = net, mapping, config, contrastive

    def trajectory(self, images: Tensor, steps: int) -> list[Tensor]:
        """Repaired images after 0..steps reversal steps (index 0 = the input itself)."""
        results: list[list[Tensor]] = [[] for _ in range(steps + 1)]
        for start in range(0, len(images), BATCH):
            batch = images[start : start + BATCH]
            results[0].append(batch)
            with torch.enable_grad():
                for step in reverse(self.contrastive, batch, mapping=self.mapping, config=self.config, steps=steps):
                    if step.index > 0:
                        results[step.index].append(repair(batch, step.x.to(batch.device)))
        return [torch.cat(parts) for parts in results]

    def __call__(self, images: Tensor, steps: int) -> Tensor:
        return self.trajectory(images, steps)[-1]


def step_accuracies(defense: Defense, images: Tensor, labels: Tensor, counts: list[int]) -> tuple[dict, float]:
    """Accuracy after each step count (strings) and seconds per image of the largest."""
    started = time.time()
    trajectory = defense.trajectory(images, max(counts))
    seconds = (time.time() - started) / max(1, len(images))
    return {str(count): accuracy(defense.net, trajectory[count], labels) for count in counts}, seconds


def run_defense_bench(args: argparse.Namespace) -> dict:
    from engines.models.mnist.model import attack_budget, defense_contrastive, defense_settings
    from engines.models.registry import load_mapping, load_model

    device = resolve_device(args.device)
    counts = sorted({int(value) for value in args.defense_steps.split(",")})
    net, mapping = load_model(args.model, device), load_mapping(args.model, device)
    config = DefenseConfig.from_dict({**defense_settings(args.model), "seed": args.seed})
    images, labels = (tensor.to(device) for tensor in load_case(args.data, args.n))
    defenses = {
        name: Defense(net, space, config, defense_contrastive(args.model, net, seed=args.seed).to(device))
        for name, space in (("baseline", None), ("ours", mapping))
    }
    budget = attack_budget(args.model, args.attack)
    if args.attack == "bpda":  # each defense is attacked through itself at its largest step count
        attacked = {
            name: bpda(net, lambda x, d=defense: d(x, max(counts)), images, labels, budget, seed=args.seed)
            for name, defense in defenses.items()
        }
    else:
        adversarial = pgd(net, images, labels, budget, seed=args.seed)
        attacked = dict.fromkeys(defenses, adversarial)
    result = {
        "model": args.model,
        "attack": args.attack,
        "epsilon": budget.epsilon,
        "n": len(images),
        "clean_accuracy": accuracy(net, images, labels),
        "attacked_accuracy": accuracy(net, attacked["ours"], labels),
    }
    seconds, clean_after = {}, {}
    for name, defense in defenses.items():
        result[f"{name}_accuracy"], seconds[name] = step_accuracies(defense, attacked[name], labels, counts)
        clean_after[name] = accuracy(net, defense(images, max(counts)), labels)
    result["clean_after_defense"], result["seconds_per_image"] = clean_after, seconds
    result["budget"] = {"norm": budget.norm, "steps": budget.steps, "step_size": budget.step_size}
    print_table(result, counts)
    return result


def print_table(result: dict, counts: list[int]) -> None:
    """A Table-1-like summary: robust accuracy (%) per defense step count, X-space vs Z-space."""
    print(
        f"{result['model']}  attack {result['attack']} (eps {result['epsilon']})  n {result['n']}  "
        f"clean {100 * result['clean_accuracy']:.1f}%  attacked {100 * result['attacked_accuracy']:.1f}%"
    )
    print(f"{'steps':>6} {'baseline (X)':>13} {'ours (Z)':>9} {'gain':>6}")
    for count in counts:
        base, ours = result["baseline_accuracy"][str(count)], result["ours_accuracy"][str(count)]
        print(f"{count:>6} {100 * base:>12.1f}% {100 * ours:>8.1f}% {100 * (ours - base):>+6.1f}")
    after, seconds = result["clean_after_defense"], result["seconds_per_image"]
    print(f"clean after defense: baseline {100 * after['baseline']:.1f}%  ours {100 * after['ours']:.1f}%")
    print(f"seconds per image:   baseline {seconds['baseline']:.4f}  ours {seconds['ours']:.4f}")


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``defense`` to the benchmark CLI (flags and JSON keys are an interface: keep them)."""
    parser = commands.add_parser("defense", help="adversarial defense by reversal: X-space vs Z-space")
    parser.add_argument("--model", required=True, choices=["mnist-classifier", "mnist-classifier-robust"])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--attack", required=True, choices=ATTACKS)
    parser.add_argument("--defense-steps", default="0,1,3,5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    add_device_argument(parser)
    parser.set_defaults(run=run_defense_bench)
