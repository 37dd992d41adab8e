"""Pose benchmark: X-space vs Z-space completion of body poses from observed joints.

    python -m engines.bench pose --model pose32 --data DIR --n 200 --steps 200 \
        --optimizer adam --mask none --seed 0 --json OUT.json

``--n`` poses are taken evenly spaced over all frames of all clips under DIR (sorted path
order). The objective is the MSE over the axis-angle parameters of the observed joints
(``--mask none|upper|lower``); ``x_full_error``/``z_full_error`` are the MSE over all joints
against the ground truth, per step, and ``x_hidden_error``/``z_hidden_error``/``zx_hidden_error`` the
same MSE over the hidden joints only (what the optimiser was never shown; ``null`` for ``--mask none``).
"""

from __future__ import annotations

import argparse

import torch

from engines.bench.common import (
    add_common_arguments,
    add_handoff_arguments,
    add_prior_arguments,
    device_figures,
    device_of,
    handoff_settings,
    learning_rates,
    prior_settings,
)
from engines.core.device import module_device
from engines.core.evaluation import LR_GRID, run_space, sweep_x_lr
from engines.core.masked import prior_penalty

# Learning rates and the hand-off step: the model's saved defaults (assets/pose32_defaults.json, chosen on
# the cmu_mocap/train clips by ``python -m engines.bench defaults``), unless --x-lr/--z-lr/--handoff are given.


def _full_error(forward, truth: torch.Tensor, weight: torch.Tensor | None = None):
    """Per-step MSE against ``truth`` (``B x 66``) over all joints, and over the hidden ones (``weight``
    ``1 x 66``, 0 = hidden) when some are hidden."""
    hidden = None if weight is None or bool(weight.all()) else weight[0] == 0

    def per_step(step) -> dict[str, float]:
        with torch.no_grad():
            output = step.output if step.output is not None else forward(step.x.to(module_device(forward))).cpu()
        squared = (output - truth).square()
        figures = {"full_error": float(squared.mean())}
        if hidden is not None:
            figures["hidden_error"] = float(squared[:, hidden].mean())
        return figures

    return per_step


def run_pose_bench(args: argparse.Namespace) -> dict:
    from engines.models.pose.data import evenly_spaced_poses
    from engines.models.pose.skeleton import MASKS, joint_weight, load_skeleton
    from engines.models.registry import load_mapping, load_model

    torch.manual_seed(args.seed)
    device = device_of(args)
    forward, mapping = load_model(args.model, device), load_mapping(args.model, device)
    skeleton = getattr(forward, "skeleton", None) or load_skeleton()
    truth = evenly_spaced_poses(args.data, skeleton, args.n)
    weight = joint_weight(MASKS[args.mask])
    common = dict(optimizer=args.optimizer, loss="mse", weight=weight, steps=args.steps)
    x_lr, z_lr = learning_rates(args)
    handoff, handoff_lr = handoff_settings(args, masked=args.mask != "none")
    prior_weight, prior_kind = prior_settings(args) if args.mask != "none" else (0.0, "gauss")
    sweep = None
    if getattr(args, "sweep_x_lr", False):
        x_lr, sweep = sweep_x_lr(forward, truth, **common)
    print(
        f"{args.model}: {len(truth)} poses from {args.data}, mask {args.mask}, {args.steps} steps of "
        f"{args.optimizer}, X lr {x_lr}, Z lr {z_lr}, Z→X hand-off at {handoff} (X lr {handoff_lr}), "
        f"prior pull on X and Z→X after the hand-off {prior_weight} ({prior_kind})"
    )
    if sweep:
        print("X lr sweep (final loss): " + ", ".join(f"{lr}: {value:.6f}" for lr, value in sweep.items()))
    pull = prior_penalty(prior_weight, prior_kind)  # masked targets: X and Z→X after the hand-off keep the prior
    x_options = dict(mapping=None, lr=x_lr, penalty=pull)
    x_run = run_space(forward, truth, **x_options, per_step=_full_error(forward, truth, weight), **common)
    z_run = run_space(forward, truth, mapping=mapping, lr=z_lr, per_step=_full_error(forward, truth, weight), **common)
    zx_options = dict(mapping=mapping, lr=z_lr, handoff=handoff, handoff_lr=handoff_lr, handoff_penalty=pull)
    zx_run = run_space(forward, truth, **zx_options, per_step=_full_error(forward, truth, weight), **common)
    result = {
        "model": args.model,
        "optimizer": args.optimizer,
        "mask": args.mask,
        "n": len(truth),
        "steps": args.steps,
        "x_loss": x_run.losses,
        "z_loss": z_run.losses,
        "x_full_error": x_run.extra["full_error"],
        "z_full_error": z_run.extra["full_error"],
        "zx_loss": zx_run.losses,
        "zx_full_error": zx_run.extra["full_error"],
        "x_hidden_error": x_run.extra.get("hidden_error"),
        "z_hidden_error": z_run.extra.get("hidden_error"),
        "zx_hidden_error": zx_run.extra.get("hidden_error"),
        "handoff_step": handoff,
        "handoff_lr": handoff_lr,
        "prior_weight": prior_weight,
        "prior_kind": prior_kind,
        "x_seconds_per_step": x_run.seconds_per_step,
        "z_seconds_per_step": z_run.seconds_per_step,
        "x_lr": x_lr,
        "z_lr": z_lr,
        **device_figures(device),
    }
    if sweep:
        result["x_lr_sweep"] = {str(lr): value for lr, value in sweep.items()}
    print_pose_checks(result)
    return result


def _hidden_columns(result: dict, step: int) -> str:
    if result["x_hidden_error"] is None:
        return ""
    x, z, zx = (result[f"{space}_hidden_error"][step] for space in ("x", "z", "zx"))
    return f"  X hidden {x:.6f}  Z hidden {z:.6f}  Z→X hidden {zx:.6f}"


def print_pose_checks(result: dict) -> None:
    x_loss, z_loss, zx_loss, steps = result["x_loss"], result["z_loss"], result["zx_loss"], result["steps"]
    for step in (0, 1, 2, 5, 10, 20, 50, 100, 200):
        if step <= steps:
            print(
                f"step {step:>4}: X loss {x_loss[step]:.6f}  Z loss {z_loss[step]:.6f}  Z→X loss {zx_loss[step]:.6f}  "
                f"X full {result['x_full_error'][step]:.6f}  Z full {result['z_full_error'][step]:.6f}  "
                f"Z→X full {result['zx_full_error'][step]:.6f}" + _hidden_columns(result, step)
            )
    if steps >= 20:
        print(
            f"z_loss[2] = {z_loss[2]:.6f} vs x_loss[20] = {x_loss[20]:.6f}: {'OK' if z_loss[2] <= x_loss[20] else 'NOT MET'}"
        )
    print(f"z_loss[{steps}] / x_loss[{steps}] = {z_loss[steps] / x_loss[steps]:.3f}")
    print(
        f"zx_loss[{steps}] / x_loss[{steps}] = {zx_loss[steps] / x_loss[steps]:.3f} "
        f"({'Z→X ends at or below X' if zx_loss[steps] <= x_loss[steps] else 'Z→X ends above X'})"
    )
    print(
        f"full error at {steps}: X {result['x_full_error'][steps]:.6f}, Z {result['z_full_error'][steps]:.6f}, "
        f"Z→X {result['zx_full_error'][steps]:.6f}"
    )
    if result["x_hidden_error"] is not None:
        hidden = {space: result[f"{space}_hidden_error"][steps] for space in ("x", "z", "zx")}
        met = hidden["zx"] <= min(hidden["x"], hidden["z"])
        print(
            f"hidden error at {steps}: X {hidden['x']:.6f}, Z {hidden['z']:.6f}, Z→X {hidden['zx']:.6f} "
            f"(Z→X {'at or below' if met else 'above'} both X and Z)"
        )
    print(f"seconds per step: X {result['x_seconds_per_step']:.4f}, Z {result['z_seconds_per_step']:.4f}")


__all__ = ["LR_GRID", "run_pose_bench"]


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``pose`` to ``python -m engines.bench``."""
    pose = commands.add_parser("pose", help="X vs Z pose completion on cmu_mocap clips")
    add_common_arguments(pose, n=200)
    add_handoff_arguments(pose)
    add_prior_arguments(pose)
    pose.add_argument("--mask", default="none", choices=["none", "upper", "lower"])
    pose.add_argument("--sweep-x-lr", action="store_true", help=f"pick X's lr from {LR_GRID} on this data")
    pose.set_defaults(run=run_pose_bench)
