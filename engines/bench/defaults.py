"""``python -m engines.bench defaults``: choose a model's inversion defaults on its training data, e.g.
    python -m engines.bench defaults --model faces64 --data CELEBA_TRAIN_SLICE --n 16 --steps 200 --write

The paper's fair baseline: every learning rate is the best of {0.5, 0.1, 0.05, 0.01} (final mean loss
after ``--steps``, NaN worst). In order: X's lr; Z's lr; Z→X's X lr after the hand-off (hand-off at
the fallback step); then the hand-off step from {1, 2, 5, 10, 20} with that lr, the smallest step whose
final loss is within 0.5 % of the best (an earlier hand-off keeps more of X's steps and costs nothing).
``--write`` saves them beside Θ as ``assets/<model>_defaults.json`` with the sweep's figures and this
command; the app and the benchmarks read them from there (``engines.core.evaluation.inversion_defaults``).
Image models use MSE + LPIPS; pose models the MSE over all joints (``--mask`` none).
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from engines.bench.common import add_common_arguments, add_mapping_argument, device_of, mapping_of
from engines.core.evaluation import FALLBACK_HANDOFF, FALLBACK_Z_LR, HANDOFF_GRID, LR_GRID, defaults_path, run_space
from engines.core.losses import resolve_loss_name

TIE = 0.005  # hand-off steps whose final loss is within 0.5 % of the best count as tied


def defaults_inputs(args: argparse.Namespace) -> tuple:
    """(F, Θ, targets, loss name) for the sweep: images of ``--data`` or poses of its clips."""
    from engines.io.images import list_images
    from engines.models.registry import get_spec, load_model

    torch.manual_seed(args.seed)
    device = device_of(args)
    forward = load_model(args.model, device)
    mapping = None if getattr(args, "spaces", "all") == "x" else mapping_of(args, device)
    if get_spec(args.model).output_kind == "pose":
        from engines.models.pose.data import evenly_spaced_poses
        from engines.models.pose.skeleton import load_skeleton

        skeleton = getattr(forward, "skeleton", None) or load_skeleton()
        return forward, mapping, evenly_spaced_poses(args.data, skeleton, args.n).to(device), "mse"
    paths = list_images(args.data)[: args.n]
    if not paths:
        raise SystemExit(f"no images in {args.data}")
    prepared = [forward.prepare_known_target(path) for path in paths]
    targets = torch.stack([target for target, _, _ in prepared]).to(device)
    if any(known is not None for _, known, _ in prepared):
        weight = torch.stack(
            [torch.ones(1, *targets.shape[-2:]) if known is None else known for _, known, _ in prepared]
        )
        forward_weight = weight.to(device)
    else:
        forward_weight = None
    return forward, mapping, (targets, forward_weight), resolve_loss_name("mse+lpips")


def final_loss(forward, targets, **options) -> float:
    value = run_space(forward, targets, **options).losses[-1]
    return value if value == value else float("inf")


def choose_x_lr(forward, targets, *, loss: str, optimizer: str, steps: int, weight=None) -> dict:
    """X's lr alone (no Θ needed): the best of the grid by final loss."""
    common = dict(loss=loss, optimizer=optimizer, steps=steps, weight=weight)
    sweep = {str(lr): final_loss(forward, targets, mapping=None, lr=lr, **common) for lr in LR_GRID}
    return {"chosen": {"x_lr": float(min(sweep, key=sweep.get))}, "sweeps": {"x_lr": sweep}}


def choose_defaults(forward, mapping, targets, *, loss: str, optimizer: str, steps: int, weight=None) -> dict:
    """The sweep (see the module docstring): chosen values and every final loss it measured."""
    common = dict(loss=loss, optimizer=optimizer, steps=steps, weight=weight)
    sweeps: dict[str, dict[str, float]] = {"x_lr": {}, "z_lr": {}, "handoff_lr": {}, "handoff": {}}
    for lr in LR_GRID:
        sweeps["x_lr"][str(lr)] = final_loss(forward, targets, mapping=None, lr=lr, **common)
        sweeps["z_lr"][str(lr)] = final_loss(forward, targets, mapping=mapping, lr=lr, **common)
    x_lr = float(min(sweeps["x_lr"], key=sweeps["x_lr"].get))
    z_lr = float(min(sweeps["z_lr"], key=sweeps["z_lr"].get))
    for lr in LR_GRID:
        options = dict(mapping=mapping, lr=z_lr, handoff=FALLBACK_HANDOFF, handoff_lr=lr)
        sweeps["handoff_lr"][str(lr)] = final_loss(forward, targets, **options, **common)
    handoff_lr = float(min(sweeps["handoff_lr"], key=sweeps["handoff_lr"].get))
    for handoff in HANDOFF_GRID:
        options = dict(mapping=mapping, lr=z_lr, handoff=handoff, handoff_lr=handoff_lr)
        sweeps["handoff"][str(handoff)] = final_loss(forward, targets, **options, **common)
    best = min(sweeps["handoff"].values())
    handoff = min(int(k) for k, value in sweeps["handoff"].items() if value <= best * (1 + TIE))
    chosen = dict(x_lr=x_lr, z_lr=z_lr, handoff=handoff, handoff_lr=handoff_lr)
    return {"chosen": chosen, "sweeps": sweeps}


def run_defaults(args: argparse.Namespace) -> dict:
    forward, mapping, targets, loss = defaults_inputs(args)
    targets, weight = targets if isinstance(targets, tuple) else (targets, None)
    unknown = "" if weight is None else f", {float(1 - weight.mean()):.1%} of pixels unknown (hidden from the loss)"
    print(f"{args.model}: {len(targets)} targets from {args.data}, {args.steps} steps of {args.optimizer}, loss {loss}{unknown}")  # fmt: skip
    options = dict(loss=loss, optimizer=args.optimizer, steps=args.steps, weight=weight)
    if args.spaces == "x":
        found = choose_x_lr(forward, targets, **options)
    else:
        found = choose_defaults(forward, mapping, targets, **options)
    for name, sweep in found["sweeps"].items():
        print(f"{name} sweep (final loss): " + ", ".join(f"{key}: {value:.6f}" for key, value in sweep.items()))
    chosen = dict(found["chosen"], chosen_on=f"{args.data} (n={len(targets)}, {args.steps} steps, {loss})")
    if args.spaces == "x":  # Z's settings stay the fallbacks until a Θ exists to choose them with
        z_lr = FALLBACK_Z_LR.get(args.optimizer, 0.1)
        chosen.update(z_lr=z_lr, handoff=FALLBACK_HANDOFF, handoff_lr=chosen["x_lr"])
        chosen["chosen_on"] += "; X lr only: Z lr, hand-off and Z→X's X lr are fallbacks (no Θ yet)"
    print("chosen: " + ", ".join(f"{key} {value}" for key, value in chosen.items()))
    result = {"model": args.model, "optimizer": args.optimizer, "n": len(targets), "steps": args.steps, **found}
    if args.write:
        write_defaults(args.model, args.optimizer, chosen, found["sweeps"])
    return result


def write_defaults(model: str, optimizer: str, chosen: dict, sweeps: dict) -> None:
    """Merge one optimiser's choice into ``assets/<model>_defaults.json`` (beside Θ)."""
    path = defaults_path(model)
    saved = json.loads(path.read_text()) if path.is_file() else {}
    kept = {key: value for key, value in saved.get("optimizers", {}).get(optimizer, {}).items() if key.startswith("masked_")}  # fmt: skip
    saved.setdefault("optimizers", {})[optimizer] = {**kept, **chosen}  # the masked-target rule has its own sweep
    saved.setdefault("sweeps", {})[optimizer] = sweeps
    saved.setdefault("commands", {})[optimizer] = "python -m engines.bench " + " ".join(sys.argv[1:])
    path.write_text(json.dumps(saved, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}")


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``defaults`` to ``python -m engines.bench``."""
    parser = commands.add_parser("defaults", help="choose a model's lrs and Z→X hand-off step on training data")
    add_common_arguments(parser, n=16)
    add_mapping_argument(parser)
    parser.add_argument("--write", action="store_true", help="save the choice as assets/<model>_defaults.json")
    parser.add_argument(
        "--spaces", default="all", choices=("all", "x"), help="x: choose X's lr only (a model without Θ yet)"
    )
    parser.set_defaults(run=run_defaults)
