"""Choose the defense's settings on MNIST *training* images: X-space lr × λ, and Z-space lr for a trained Θ.

    PYTHONPATH=. python scripts/defense_sweep.py --model mnist-classifier [--weights FILE] [--mapping FILE] \
        --n 300 --seed 7 --json OUT.json

Images are ``--n`` random training images (seed ``--seed``; Θ's own targets use the training seed 0, so pick
another), attacked by PGD-L∞ and PGD-L2 at the classifier's budgets. For each setting it prints robust accuracy
after 1 and 5 reversal steps (mean over both attacks) and clean accuracy after 5 steps. The X grid is the
paper's {0.5, 0.1, 0.05, 0.01} × λ ∈ {0, 0.01, 0.1, 1}; Z (with ``--mapping``) sweeps its lr over {2, 1} and the same grid
at Θ's own λ (the X grid is skipped then).

``--write`` saves the choice to ``assets/<asset>_defense.json`` (read by
:func:`engines.models.mnist.model.defense_settings`): in each space, the setting with the best mean robust accuracy
after 1 and after 5 steps (fair to both step counts) among those that keep clean accuracy after 5 steps within 1
point of clean. X's choice fixes λ
(the same loss for both spaces); train Θ with that λ, then run again with ``--mapping`` to choose Z's lr.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import torch

from engines.bench.defense import Defense, step_accuracies
from engines.core.attacks import accuracy, pgd
from engines.core.defense import DefenseConfig
from engines.core.evaluation import LR_GRID

WEIGHTS = (0.0, 0.01, 0.1, 1.0)
Z_GRID = (2.0, 1.0, *LR_GRID)  # Θ's landscape may want larger steps than X's grid; chosen on training images too


def score(objective, net, cases, clean, labels, mapping, config) -> dict:
    """Mean robust accuracy over the attacks after 1 and 5 steps, and clean accuracy after 5 (the bench's runner)."""
    defense = Defense(net, mapping, config, objective)
    robust = [step_accuracies(defense, attacked, labels, [1, 5])[0] for attacked in cases.values()]
    return {
        "1": sum(r["1"] for r in robust) / len(robust),
        "5": sum(r["5"] for r in robust) / len(robust),
        "clean_after_5": step_accuracies(defense, clean, labels, [5])[0]["5"],
    }


def main() -> None:
    from engines.core.mapping import load_mapping_file
    from engines.models.mnist.model import attack_budget, defense_contrastive, load_classifier, load_classifier_file
    from engines.train.mnist import load_training_split

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, choices=["mnist-classifier", "mnist-classifier-robust"])
    parser.add_argument("--weights", type=Path, default=None, help="candidate classifier (default: shipped)")
    parser.add_argument("--mapping", type=Path, default=None, help="a trained Θ: sweep Z's lr too")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--write", action="store_true", help="save the chosen settings beside Θ in assets/")
    args = parser.parse_args()
    torch.set_num_threads(1)
    net = load_classifier(args.model) if args.weights is None else load_classifier_file(args.weights)
    net = net.eval().requires_grad_(False)
    objective = defense_contrastive(args.model, net)
    images, labels = load_training_split()
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(args.seed))[: args.n]
    clean, truth = images[pick].reshape(len(pick), -1), labels[pick]
    cases = {
        attack: pgd(net, images[pick], truth, attack_budget(args.model, attack), seed=args.seed).reshape(len(pick), -1)
        for attack in ("pgd-linf", "pgd-l2")
    }
    clean_accuracy = accuracy(net, clean, truth)
    print(f"clean {accuracy(net, clean, truth):.3f}, attacked " + ", ".join(
        f"{name} {accuracy(net, x, truth):.3f}" for name, x in cases.items()), flush=True)  # fmt: skip
    rows = []
    for lr, weight in itertools.product(LR_GRID, WEIGHTS) if args.mapping is None else ():
        config = DefenseConfig(weight=weight, x_lr=lr)
        rows.append(
            {"space": "x", "lr": lr, "weight": weight, **score(objective, net, cases, clean, truth, None, config)}
        )
        print(rows[-1], flush=True)
    if args.mapping is not None:
        from engines.io.checkpoint import load_tensors

        mapping = load_mapping_file(args.mapping).eval().requires_grad_(False)
        saved = DefenseConfig.from_dict(load_tensors(args.mapping)[1].get("defense", {}))
        for lr in Z_GRID:
            config = DefenseConfig(weight=saved.weight, z_lr=lr, z_init_scale=saved.z_init_scale)
            row = {"space": "z", "lr": lr, "weight": saved.weight}
            rows.append({**row, **score(objective, net, cases, clean, truth, mapping, config)})
            print(rows[-1], flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    if args.write:
        write_choice(args, rows, clean_accuracy)


def choose(rows: list[dict], space: str, clean_accuracy: float) -> dict | None:
    """The row of ``space`` with the best mean of its 1- and 5-step robust accuracy, clean kept within 1 point."""
    kept = [row for row in rows if row["space"] == space and row["clean_after_5"] >= clean_accuracy - 0.01]
    return max(kept, key=lambda row: row["1"] + row["5"], default=None)


def write_choice(args: argparse.Namespace, rows: list[dict], clean_accuracy: float) -> None:
    import sys

    from engines.io.checkpoint import ASSETS_DIR
    from engines.models.mnist.model import ASSET_NAMES

    path = ASSETS_DIR / f"{ASSET_NAMES[args.model]}_defense.json"
    previous = json.loads(path.read_text()) if path.is_file() else {"settings": {}, "sweeps": {}}
    x, z = choose(rows, "x", clean_accuracy), choose(rows, "z", clean_accuracy)
    settings = dict(previous["settings"])
    if x is not None:
        settings.update(x_lr=x["lr"], weight=x["weight"])
    if z is not None:
        settings.update(z_lr=z["lr"])
    space = "z" if args.mapping else "x"
    sweeps = {**previous["sweeps"], space: rows}
    commands = {**previous.get("commands", {}), space: "PYTHONPATH=. python " + " ".join(sys.argv)}
    note = "chosen on MNIST training images: best mean robust accuracy after 1 and 5 steps, clean within 1 point"
    data = {
        "settings": settings,
        "rule": note,
        "clean_accuracy": clean_accuracy,
        "commands": commands,
        "sweeps": sweeps,
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}: {settings}")


if __name__ == "__main__":
    main()
