"""What every training command shares: the recorded command line and Algorithm 1 settings from arguments."""

from __future__ import annotations

import argparse
import shlex
import sys


def command_line() -> str:
    return "python -m engines.train " + shlex.join(sys.argv[1:])


def train_config_from_args(args: argparse.Namespace):
    """The Algorithm 1 settings of a ``mapping`` / ``pose-mapping`` command line."""
    from engines.core.trainer import TrainConfig

    return TrainConfig(
        rounds=args.rounds,
        trajectories=args.trajectories,
        steps=args.steps,
        z_lr=args.z_lr,
        mapping_lr=args.mapping_lr,
        weight_decay=args.weight_decay,
        updates_per_round=args.updates,
        batch_size=args.batch_size,
        buffer_rounds=args.buffer_rounds,
        online=args.online,
        loss=getattr(args, "loss", "mse"),
        seed=args.seed,
    )
