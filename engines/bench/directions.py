"""``python -m engines.bench directions``: are the shipped edit directions consistent edits? e.g.
    python -m engines.bench directions --model faces64 --n 50 --amount 3 --seed 0 --json OUT.json

For N random latents x, the image change ``G(x + a·v) − G(x)`` along a direction v; the figure is the mean
pairwise cosine similarity of the N changes (1: every face changes the same way). The first ``--top``
shipped directions against ``--random`` random directions of the same length (the control): ``ratio`` is each
direction's consistency over the random directions' mean.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from engines.core.directions import change_consistency


def direction_consistency(generator, directions: torch.Tensor, *, n: int, amount: float, top: int, random: int, seed: int) -> dict:  # fmt: skip
    """The report: ``principal`` (per direction), ``random`` (per random direction), their ``ratio``s."""
    rng = torch.Generator().manual_seed(seed)
    latents = torch.randn(n, directions.shape[1], generator=rng)
    lengths = directions[:top].norm(dim=1)
    principal = [change_consistency(generator, latents, direction, amount) for direction in directions[:top]]
    controls = torch.randn(random, directions.shape[1], generator=rng)
    controls = controls / controls.norm(dim=1, keepdim=True) * lengths.mean()
    chance = [change_consistency(generator, latents, direction, amount) for direction in controls]
    mean_chance = sum(chance) / len(chance)
    return {
        "principal": principal,
        "random": chance,
        "random_mean": mean_chance,
        "ratio": [value / mean_chance for value in principal],
    }


def run_directions_bench(args: argparse.Namespace) -> dict:
    from engines.io.checkpoint import load_tensors, resolve_asset
    from engines.models.registry import load_model

    generator = load_model(args.model).eval().requires_grad_(False)
    tensors, meta = load_tensors(resolve_asset(f"{args.model}_directions"))
    report = direction_consistency(
        generator, tensors["directions"], n=args.n, amount=args.amount, top=args.top, random=args.random, seed=args.seed
    )
    report = {"model": args.model, "n": args.n, "amount": args.amount, "names": meta["names"][: args.top], **report}
    print(
        f"directions {args.model}: n={args.n}, amount {args.amount}: mean pairwise cosine of the image changes "
        + ", ".join(f"{name} {value:.3f}" for name, value in zip(report["names"], report["principal"]))
        + f" · random directions {report['random_mean']:.3f} · ratios "
        + ", ".join(f"{value:.1f}×" for value in report["ratio"])
    )
    return report


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``directions`` to ``python -m engines.bench``."""
    parser = commands.add_parser("directions", help="consistency of the shipped latent edit directions")
    parser.add_argument("--model", default="faces64")
    parser.add_argument("--n", type=int, default=50, help="random latents")
    parser.add_argument("--amount", type=float, default=3.0, help="how far along each direction")
    parser.add_argument("--top", type=int, default=3, help="the first directions measured")
    parser.add_argument("--random", type=int, default=10, help="random directions (the control)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.set_defaults(run=run_directions_bench)
