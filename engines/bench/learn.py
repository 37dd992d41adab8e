"""``python -m engines.bench learn``: learn Θ from random (or the shipped Θ) for a time budget, probing every round.

    python -m engines.bench --threads 1 learn --model digits --data MNIST_TEST_DIR --n 100 --seconds 30 \
        --start random --seed 0 --json OUT.json

Algorithm 1 runs with the model's live recipe (:mod:`engines.train.live`: the shipped Θ's settings,
chosen on training data) on its training targets. After every round, outside the learning clock,
the current Θ is probed on the first ``--n`` targets of ``--data``: the mean loss of X, Z and Z→X at
steps 2 and 20, and at 200 too for the first and the last round (a 200-step probe costs ten 20-step
ones; X does not depend on Θ and is probed once, to 200). The model's inversion defaults, MSE.
``seconds`` counts the learning only.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from engines.bench.common import device_of


def run_learn_bench(args: argparse.Namespace) -> dict:
    from engines.core.learning import as_module, learn_rounds, probe_mapping
    from engines.core.trainer import MappingTrainer
    from engines.models.registry import load_mapping, load_model
    from engines.train.live import probe_settings, recipe, start_mapping, training_targets, validation_targets

    torch.manual_seed(args.seed)
    device = device_of(args)
    forward = load_model(args.model, device)
    found = recipe(args.model, seed=args.seed)
    validation = validation_targets(args.model, forward, args.data, args.n).to(device)
    settings = probe_settings(args.model)
    x_probe = probe_mapping(forward, validation, None, settings, spaces=("x",))
    shipped = x_probe.merged(probe_mapping(forward, validation, load_mapping(args.model, device), settings, spaces=("z", "zx")))  # fmt: skip
    mapping = start_mapping(args.model, forward, args.start, seed=args.seed)
    trainer = MappingTrainer(forward, training_targets(args.model, seed=args.seed), mapping, found.train)
    print(
        f"{args.model}: Θ from {args.start}, {args.seconds:g} s of Algorithm 1 on {found.data} "
        f"({found.train.trajectories} trajectories x {found.train.steps} steps, {found.train.updates_per_round} "
        f"updates{', online' if found.train.online else ''}); probe: {len(validation)} targets of {args.data}, "
        f"{settings}"
    )
    print(f"shipped Θ: {_line(shipped.to_dict())}", flush=True)
    quick = dataclasses.replace(settings, steps=tuple(step for step in settings.steps if step <= QUICK_STEPS))
    trajectory, probes, learned, current = [], [], 0.0, None
    for done in learn_rounds(trainer, seconds=args.seconds):
        current = as_module(done.mapping, mapping).to(device)
        chosen = settings if not probes else quick  # the first round to 200, the others to 20
        probe = x_probe.merged(probe_mapping(forward, validation, current, chosen, spaces=("z", "zx")))
        trajectory.append(done.trajectory_loss)
        probes.append(probe.to_dict())
        learned = done.learning_seconds
        print(
            f"round {done.round} ({learned:.1f} s): trajectory {done.trajectory_loss:.4f}; {_line(probes[-1])}",
            flush=True,
        )
    if len(probes) > 1:  # the last round's Θ, to 200 steps as well
        probes[-1] = x_probe.merged(probe_mapping(forward, validation, current, settings, spaces=("z", "zx"))).to_dict()
        print(f"last round to {max(settings.steps)} steps: {_line(probes[-1])}", flush=True)
    result = {
        "model": args.model,
        "seconds": learned,
        "rounds": len(trajectory),
        "trajectory_loss": trajectory,
        "probe": probes,
        "shipped": shipped.to_dict(),
    }
    print_learn_checks(result)
    return result


QUICK_STEPS = 20  # intermediate rounds are probed up to this step


def _line(probe: dict) -> str:
    return "; ".join(
        f"{name} " + " ".join(f"@{step} {value:.4f}" for step, value in probe[f"{key}_loss"].items())
        for name, key in (("X", "x"), ("Z", "z"), ("Z→X", "zx"))
    )


def print_learn_checks(result: dict) -> None:
    if not result["probe"]:
        print("no round finished")
        return
    last, shipped = result["probe"][-1], result["shipped"]
    for step in ("2", "20", "200"):
        z, x, z_shipped = last["z_loss"][step], last["x_loss"][step], shipped["z_loss"][step]
        print(
            f"after {result['rounds']} rounds ({result['seconds']:.1f} s): Z@{step} {z:.4f} = {z / x:.3f} x X@{step} "
            f"({x:.4f}), {z / z_shipped:.3f} x the shipped Θ's Z@{step} ({z_shipped:.4f}); "
            f"Z→X@{step} {last['zx_loss'][step]:.4f}"
        )


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``learn`` to ``python -m engines.bench``."""
    from engines.core.device import add_device_argument
    from engines.train.live import RECIPES, STARTS

    learn = commands.add_parser("learn", help="learn Θ for a time budget; probe X, Z, Z→X every round")
    learn.add_argument("--model", required=True, choices=sorted(RECIPES))
    learn.add_argument("--data", required=True, type=Path, help="validation targets: an image folder or clips")
    learn.add_argument("--n", type=int, default=100)
    learn.add_argument("--seconds", type=float, default=30.0, help="learning time budget (probes not counted)")
    learn.add_argument("--start", default="random", choices=STARTS)
    learn.add_argument("--seed", type=int, default=0)
    learn.add_argument("--json", type=Path, default=None)
    add_device_argument(learn)
    learn.set_defaults(run=run_learn_bench)
