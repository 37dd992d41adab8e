"""``python -m engines.bench inversion``: X-space vs Z-space on a folder of images, e.g.
    python -m engines.bench inversion --model faces64 --data DIR --n 100 --steps 200 \
        --optimizer adam --seed 0 --json OUT.json
"""

from __future__ import annotations

import argparse
import time

import torch

from engines.bench.common import (
    add_common_arguments,
    add_handoff_arguments,
    add_mapping_argument,
    device_figures,
    handoff_settings,
    image_bench_inputs,
    learning_rates,
)
from engines.core.evaluation import LR_GRID, run_space, sweep_x_lr
from engines.core.losses import get_loss, lpips_available, resolve_loss_name

REPORT_STEPS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def time_per_step(
    forward, targets, *, mappings: dict, lrs: dict, optimizer: str, loss: str, steps: int = 10, repeats: int = 5
) -> dict[str, float]:
    """Best-of-``repeats`` wall seconds per step for each space, the spaces interleaved so that
    background load hits them alike."""
    best = dict.fromkeys(mappings, float("inf"))
    for _ in range(repeats):
        for space, mapping in mappings.items():
            started = time.perf_counter()
            run_space(forward, targets, mapping=mapping, lr=lrs[space], steps=steps, optimizer=optimizer, loss=loss)
            best[space] = min(best[space], (time.perf_counter() - started) / steps)
    return best


def print_curves(x_loss: list[float], z_loss: list[float], zx_loss: list[float], label: str = "loss") -> None:
    print(f"{'step':>6} | {'X ' + label:>12} | {'Z ' + label:>12} | {'Z→X ' + label:>12} | Z/X   | Z→X/X")
    for step in REPORT_STEPS:
        if step < len(x_loss):
            x = x_loss[step] or float("nan")
            print(
                f"{step:>6} | {x_loss[step]:>12.6f} | {z_loss[step]:>12.6f} | {zx_loss[step]:>12.6f} | "
                f"{z_loss[step] / x:.3f} | {zx_loss[step] / x:.3f}"
            )


def spread_line(result: dict) -> str:
    """Per-target final losses: mean ± standard deviation per space, and how many targets Z→X ends below X."""
    import statistics

    parts = []
    for space in ("x", "z", "zx"):
        items = result[f"{space}_final_items"]
        spread = statistics.stdev(items) if len(items) > 1 else 0.0
        parts.append(f"{'Z→X' if space == 'zx' else space.upper()} {statistics.fmean(items):.4f} ± {spread:.4f}")
    below = sum(zx < x for zx, x in zip(result["zx_final_items"], result["x_final_items"]))
    return f"final per target (mean ± sd): {', '.join(parts)}; Z→X below X on {below}/{len(result['x_final_items'])}"


def handoff_checks(x_loss: list[float], zx_loss: list[float], handoff: int) -> str:
    """One line: Z→X vs X at 20 and at the end, and the worst Z→X/X ratio from the hand-off on."""
    steps = len(x_loss) - 1
    ratios = [zx / x for zx, x in zip(zx_loss[handoff:], x_loss[handoff:]) if x > 0]
    worst = max(ratios) if ratios else float("nan")
    at_20 = f"zx_loss[20] / x_loss[20] = {zx_loss[20] / x_loss[20]:.3f}; " if steps >= 20 else ""
    return (
        f"Z→X (hand-off at {handoff}): {at_20}zx_loss[{steps}] / x_loss[{steps}] = {zx_loss[steps] / x_loss[steps]:.3f} "
        f"(Z→X is {100 * (1 - zx_loss[steps] / x_loss[steps]):.1f}% lower); worst Z→X/X from the hand-off on {worst:.3f}"
    )


def encoder_figure(model: str, forward, targets, loss: str) -> float | None:
    """Mean ``loss(F(E(y)), y)`` of the model's feed-forward encoder E over ``targets``; None without one."""
    from engines.models.registry import load_encoder

    try:
        encoder = load_encoder(model, targets.device)
    except (FileNotFoundError, ValueError) as error:
        print(f"no encoder baseline: {error}")
        return None
    with torch.no_grad():
        return float(get_loss(loss)(forward(encoder(targets)), targets, None).mean())


def first_step_below(losses: list[float], level: float) -> str:
    return next((str(step) for step, value in enumerate(losses) if value <= level), "never")


def run_inversion_bench(args: argparse.Namespace) -> dict:
    device, forward, mapping, targets = image_bench_inputs(args)
    loss = resolve_loss_name("mse+lpips" if args.loss == "auto" else args.loss)
    x_lr, z_lr = learning_rates(args)
    handoff, handoff_lr = handoff_settings(args)
    common = dict(optimizer=args.optimizer, loss=loss)
    sweep = None
    if args.sweep_x_lr:
        x_lr, sweep = sweep_x_lr(forward, targets, steps=args.steps, **common)
    print(
        f"{args.model}: {len(targets)} images from {args.data}, {args.steps} steps of {args.optimizer}, "
        f"loss {loss}{'' if lpips_available() else ' (LPIPS backbone not available)'}, X lr {x_lr}, Z lr {z_lr}, "
        f"Z→X hand-off at {handoff} (X lr {handoff_lr})"
    )
    if sweep:
        print("X lr sweep (final loss): " + ", ".join(f"{lr}: {value:.6f}" for lr, value in sweep.items()))
    x_run = run_space(forward, targets, mapping=None, lr=x_lr, steps=args.steps, **common)
    z_run = run_space(forward, targets, mapping=mapping, lr=z_lr, steps=args.steps, **common)
    zx_options = dict(mapping=mapping, lr=z_lr, steps=args.steps, handoff=handoff, handoff_lr=handoff_lr)
    zx_run = run_space(forward, targets, **zx_options, **common)
    timing = time_per_step(forward, targets, mappings={"x": None, "z": mapping}, lrs={"x": x_lr, "z": z_lr}, **common)
    x_time, z_time = timing["x"], timing["z"]
    print_curves(x_run.losses, z_run.losses, zx_run.losses)
    result = {
        "model": args.model,
        "optimizer": args.optimizer,
        "loss": loss,
        "n": len(targets),
        "steps": args.steps,
        "x_loss": x_run.losses,
        "z_loss": z_run.losses,
        "zx_loss": zx_run.losses,
        "x_final_items": x_run.last.losses.tolist(),
        "z_final_items": z_run.last.losses.tolist(),
        "zx_final_items": zx_run.last.losses.tolist(),
        "handoff_step": handoff,
        "handoff_lr": handoff_lr,
        "x_seconds_per_step": x_time,
        "z_seconds_per_step": z_time,
        "x_lr": x_lr,
        "z_lr": z_lr,
        "mapping": str(args.mapping or "shipped"),
        **device_figures(device),
    }
    encoder = encoder_figure(args.model, forward, targets, loss)
    if encoder is not None:
        result["encoder_loss"] = encoder
        print(
            f"encoder (one forward pass): loss {encoder:.6f}; X reaches it at step "
            f"{first_step_below(x_run.losses, encoder)}, Z at step {first_step_below(z_run.losses, encoder)}"
        )
    if sweep:
        result["x_lr_sweep"] = {str(lr): value for lr, value in sweep.items()}
    print_inversion_checks(result)
    return result


def print_inversion_checks(result: dict) -> None:
    x_loss, z_loss, steps = result["x_loss"], result["z_loss"], result["steps"]
    if steps >= 20:
        print(
            f"z_loss[2] = {z_loss[2]:.6f} vs x_loss[20] = {x_loss[20]:.6f}: "
            f"{'Z at 2 steps matches X at 20' if z_loss[2] <= x_loss[20] else 'Z at 2 steps is worse than X at 20'}"
        )
    print(
        f"z_loss[{steps}] / x_loss[{steps}] = {z_loss[steps] / x_loss[steps]:.3f} "
        f"(Z is {100 * (1 - z_loss[steps] / x_loss[steps]):.1f}% lower)"
    )
    print(
        f"seconds per step: X {result['x_seconds_per_step']:.4f}, Z {result['z_seconds_per_step']:.4f} "
        f"(Z/X = {result['z_seconds_per_step'] / result['x_seconds_per_step']:.3f})"
    )
    if "zx_loss" in result:
        print(handoff_checks(x_loss, result["zx_loss"], result["handoff_step"]))
        print(spread_line(result))
    if "peak_memory_mib" in result:
        print(f"device {result['device']}: peak memory {result['peak_memory_mib']:.0f} MiB")


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``inversion`` to ``python -m engines.bench``."""
    inversion = commands.add_parser("inversion", help="X vs Z inversion of a folder of images")
    add_common_arguments(inversion, n=100)
    add_mapping_argument(inversion)
    add_handoff_arguments(inversion)
    inversion.add_argument(
        "--loss",
        default="auto",
        choices=["auto", "mse", "l1", "mse+lpips"],
        help="auto = mse+lpips when the LPIPS backbone is on disk, else mse",
    )
    inversion.add_argument("--sweep-x-lr", action="store_true", help=f"pick X's lr from {LR_GRID} on this data")
    inversion.set_defaults(run=run_inversion_bench)
