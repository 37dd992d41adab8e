"""What every training command shares: the recorded command line and Algorithm 1 settings from arguments."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch

from engines.core import distributed
from engines.core.device import add_device_argument, resolve_device


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
        random_starts=getattr(args, "random_starts", False),
        start_scale=getattr(args, "start_scale", 1.0),
        zero_start_fraction=getattr(args, "zero_start_fraction", 0.0),
    )


def add_algorithm1_arguments(
    parser: argparse.ArgumentParser,
    *,
    rounds: int,
    trajectories: int,
    steps: int,
    z_lr: float,
    mapping_lr: float,
    weight_decay: float,
    updates: int,
    batch_size: int,
    buffer_rounds: int,
) -> None:
    """The flags :func:`train_config_from_args` reads, with a command's own defaults (``--online``, ``--seed`` too)."""
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--trajectories", type=int, default=trajectories)
    parser.add_argument("--steps", type=int, default=steps, help="T, steps per trajectory")
    parser.add_argument("--z-lr", type=float, default=z_lr)
    parser.add_argument("--mapping-lr", type=float, default=mapping_lr)
    parser.add_argument("--weight-decay", type=float, default=weight_decay)
    parser.add_argument("--updates", type=int, default=updates, help="Θ updates per round")
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--buffer-rounds", type=int, default=buffer_rounds)
    parser.add_argument("--online", action="store_true", help="the ablation: update Θ after every z step")
    parser.add_argument("--seed", type=int, default=0)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--out`` of a Θ training command."""
    add_device_argument(parser)
    parser.add_argument(
        "--out", type=Path, default=None, help="write the final Θ here (.safetensors + .json) instead of assets/"
    )


def start_processes(device_name: str) -> tuple[torch.device, distributed.Ranks]:
    """The device to train on and this process's ranks (joins the process group under ``torchrun``).

    Under torchrun on CUDA each rank uses GPU ``LOCAL_RANK``.
    """
    device = resolve_device(device_name)
    ranks = distributed.init_from_environment(device)
    if device.type == "cuda" and ranks.world_size > 1:
        device = torch.device("cuda", torch.cuda.current_device())
    return device, ranks
