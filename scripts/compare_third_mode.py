"""Which third optimiser to ship: the Z→X hand-off or the residual x = Θ(z₁) + s·z₂, on TRAINING data.

    PYTHONPATH=. python scripts/compare_third_mode.py --model faces64 --data CELEBA_TRAIN_SLICE --n 16 --steps 200

Every arm uses the model's saved defaults (``assets/<model>_defaults.json``: lrs and hand-off chosen on
training data); the residual runs in Z-space at Z's lr for s in {0.25, 0.5, 1}. Prints the mean loss at
steps 2, 20, 200 (and the last) per arm. Pose models take ``--data`` as a folder of clips.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from engines.bench.defaults import defaults_inputs
from engines.core.evaluation import inversion_defaults, run_space
from engines.core.mapping import ResidualMapping


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.mapping, args.device = None, "cpu"
    torch.set_num_threads(1)
    forward, mapping, targets, loss = defaults_inputs(args)
    chosen = inversion_defaults(args.model, "adam")
    arms = {
        "X": dict(mapping=None, lr=chosen.x_lr),
        "Z": dict(mapping=mapping, lr=chosen.z_lr),
        f"Z→X k={chosen.handoff}": dict(
            mapping=mapping, lr=chosen.z_lr, handoff=chosen.handoff, handoff_lr=chosen.handoff_lr
        ),
    }
    for scale in (0.25, 0.5, 1.0):
        residual = ResidualMapping(mapping, forward.input_dim, scale)
        arms[f"residual s={scale}"] = dict(mapping=residual, lr=chosen.z_lr)
    print(f"{args.model}: {len(targets)} targets from {args.data}, loss {loss}, defaults {chosen}")
    marks = [step for step in (2, 20, 200, args.steps) if step <= args.steps]
    for name, arm in arms.items():
        losses = run_space(forward, targets, loss=loss, steps=args.steps, **arm).losses
        print(f"{name:>16}: " + "  ".join(f"@{step} {losses[step]:.5f}" for step in dict.fromkeys(marks)))


if __name__ == "__main__":
    main()
