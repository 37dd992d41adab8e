"""``python -m engines.bench defense-signal``: does the defense's contrastive loss tell attacked images from clean?

    python -m engines.bench defense-signal --model mnist-classifier --n 1000 --seed 0 --json OUT.json

A reversal can only repair what its objective sees. This measures two objectives (without the
‖r‖² term) on ``--n`` random MNIST *training* images, clean and attacked by PGD-L∞ and PGD-L2 at the
classifier's budgets: ``defense``, the one the defense lowers (the head's disagreement with a squeezed
view), and ``bank``, NT-Xent of random warps against a bank of clean negatives (the former objective).
It reports the ROC AUC of "attacked scores higher", over all attacked images and over those the
attack fooled. ``--weights FILE`` measures a candidate classifier file instead of the shipped one
(its bank is then built from other clean training images, as ``engines.train mnist-bank`` does).
A random objective's loss is the mean over ``--repeats`` draws of its augmentations.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import Tensor, nn

from engines.core.attacks import pgd, roc_auc
from engines.core.contrastive import ContrastiveLoss, embed_bank

BATCH = 250


def objective_scores(objective: nn.Module, images: Tensor, repeats: int, seed: int) -> Tensor:
    """Per-image loss ``N``; a random objective (one with ``reseed``) is averaged over ``repeats`` draws."""
    draws = repeats if hasattr(objective, "reseed") else 1
    total = torch.zeros(len(images))
    with torch.no_grad():
        for draw in range(draws):
            if hasattr(objective, "reseed"):
                objective.reseed(seed + draw)
            total += torch.cat([objective(images[start : start + BATCH]) for start in range(0, len(images), BATCH)])
    return total / draws


def load_subject(args: argparse.Namespace, images: Tensor, taken: Tensor) -> tuple[nn.Module, dict[str, nn.Module]]:
    """The classifier and two objectives: the defense's (``defense``) and NT-Xent against a clean bank (``bank``).

    Shipped, or ``--weights`` with a bank of clean training images other than the measured ones.
    """
    from engines.io.checkpoint import load_tensors
    from engines.models.mnist.model import (
        bank_contrastive,
        defense_contrastive,
        load_classifier,
        load_classifier_file,
        training_augment,
    )

    if args.weights is None:
        net = load_classifier(args.model).eval().requires_grad_(False)
        bank = bank_contrastive(args.model, net, seed=args.seed)
    else:
        net = load_classifier_file(args.weights).eval().requires_grad_(False)
        free = torch.ones(len(images), dtype=torch.bool)
        free[taken] = False
        others = free.nonzero().squeeze(1)
        pick = others[torch.randperm(len(others), generator=torch.Generator().manual_seed(args.seed + 1))[: args.bank]]
        augment = training_augment(load_tensors(args.weights)[1])
        negatives = embed_bank(net.embed, images[pick], augment_config=augment, seed=args.seed)
        bank = ContrastiveLoss(net.embed, seed=args.seed, bank=negatives, augment_config=augment)
    return net, {"defense": defense_contrastive(args.model, net), "bank": bank}


def separation(clean: Tensor, attacked: Tensor, fooled: Tensor) -> dict:
    """Mean losses and ROC AUC of "attacked scores higher", over all attacked images and the fooled ones."""
    return {
        "clean_loss": float(clean.mean()),
        "attacked_loss": float(attacked.mean()),
        "auc": roc_auc(clean, attacked),
        "auc_fooled": roc_auc(clean, attacked[fooled]) if fooled.any() else None,
    }


def run_signal_bench(args: argparse.Namespace) -> dict:
    from engines.models.mnist.model import attack_budget
    from engines.train.mnist import load_training_split

    images, labels = load_training_split()
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(args.seed))[: args.n]
    net, objectives = load_subject(args, images, pick)
    clean, truth = images[pick], labels[pick]
    clean_scores = {name: objective_scores(obj, clean, args.repeats, args.seed) for name, obj in objectives.items()}
    result = {"model": args.model, "weights": str(args.weights or "shipped"), "n": len(pick), "repeats": args.repeats}
    result["clean_accuracy"] = float((net(clean).argmax(1) == truth).float().mean())
    for attack in ("pgd-linf", "pgd-l2"):
        budget = attack_budget(args.model, attack)
        attacked = pgd(net, clean, truth, budget, seed=args.seed)
        fooled = net(attacked).argmax(1) != truth
        result[attack] = {"epsilon": budget.epsilon, "attacked_accuracy": float(1 - fooled.float().mean())}
        for name, objective in objectives.items():
            scores = objective_scores(objective, attacked, args.repeats, args.seed)
            result[attack][name] = line = separation(clean_scores[name], scores, fooled)
            fooled_auc = "n/a" if line["auc_fooled"] is None else f"{line['auc_fooled']:.3f}"
            print(
                f"{args.model} {attack} (eps {budget.epsilon}) n {len(pick)} {name} objective: loss clean "
                f"{line['clean_loss']:.4f} vs attacked {line['attacked_loss']:.4f}; ROC AUC {line['auc']:.3f} "
                f"(fooled only: {fooled_auc}); accuracy clean {result['clean_accuracy']:.3f} "
                f"attacked {result[attack]['attacked_accuracy']:.3f}"
            )
    return result


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``defense-signal`` to the benchmark CLI."""
    parser = commands.add_parser("defense-signal", help="ROC AUC of the defense's contrastive loss, attacked vs clean")
    parser.add_argument("--model", required=True, choices=["mnist-classifier", "mnist-classifier-robust"])
    parser.add_argument("--weights", type=Path, default=None, help="a candidate classifier file (default: shipped)")
    parser.add_argument("--n", type=int, default=1000, help="random training images")
    parser.add_argument("--repeats", type=int, default=4, help="augmentation draws averaged per image")
    parser.add_argument("--bank", type=int, default=512, help="bank size when --weights is given")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.set_defaults(run=run_signal_bench)
