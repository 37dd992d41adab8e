"""``python -m engines.bench projection``: pix2latent's projection methods on a folder of images, e.g.
    python -m engines.bench projection --model faces64 --data DIR --n 10 --method basincma \
        --transform spatial --space x --budget 5400 --seeds 18 --seed 0 --json OUT.json

Images are prepared as the app prepares uploads (the model's ``prepare_target``), the first N in sorted
order; the mask is the whole image; a class-conditional model's class comes from its classifier. L1, L2
and LPIPS are measured in the original frame (the projection inverse-transformed onto the target),
masked, per seed; ``mean_of_seeds`` averages the seeds, ``best_of_seeds`` takes each image's best seed;
both are then averaged over images. LPIPS is null when its offline backbone is absent.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import Tensor

from engines.bench.common import device_figures, device_of
from engines.core.device import add_device_argument
from engines.core.losses import l1_loss, mse_loss
from engines.core.projection import METHODS, ProjectionConfig, ProjectionResult, project
from engines.core.projection_loss import masked_lpips
from engines.core.transforms import TRANSFORMS


def seed_metrics(result: ProjectionResult, targets: Tensor) -> dict[str, Tensor | None]:
    """``B x K`` L1, L2 (MSE) and LPIPS of every seed's reprojection against its target (whole-image mask)."""
    batch, seeds = result.reprojected.shape[:2]
    flat = result.reprojected.flatten(0, 1)
    repeated = targets.cpu().repeat_interleave(seeds, 0)
    metrics: dict[str, Tensor | None] = {
        "l1": l1_loss(flat, repeated).view(batch, seeds),
        "l2": mse_loss(flat, repeated).view(batch, seeds),
        "lpips": None,
    }
    metric = masked_lpips()
    if metric is not None:
        with torch.no_grad():
            metrics["lpips"] = metric.cpu()(flat, repeated).view(batch, seeds)
    return metrics


def summarise(values: Tensor | None) -> dict[str, float] | None:
    """``B x K`` -> mean over images of the seeds' mean and of the best seed."""
    if values is None:
        return None
    return {"mean_of_seeds": float(values.mean(1).mean()), "best_of_seeds": float(values.min(1).values.mean())}


def config_from_args(args: argparse.Namespace) -> ProjectionConfig:
    names = ("inner_steps", "z_lr", "sigma", "truncation", "final_fraction", "final_members", "transform_sigma")
    names += ("transform_fraction", "transform_steps", "transform_lr")
    extra = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    return ProjectionConfig(
        method=args.method, transform=args.transform, budget=args.budget, population=args.seeds, **extra
    )


def run_projection_bench(args: argparse.Namespace) -> dict:
    from engines.io.images import list_images
    from engines.models.registry import load_mapping, load_model

    torch.manual_seed(args.seed)
    device = device_of(args)
    generator = load_model(args.model, device)
    mapping = load_mapping(args.model, device) if args.space == "z" else None
    paths = list_images(args.data)[: args.n]
    if not paths:
        raise SystemExit(f"no images in {args.data}")
    targets = torch.stack([generator.prepare_target(path)[0] for path in paths]).to(device)
    config = config_from_args(args)
    started = time.perf_counter()
    last = None
    for last in project(generator, targets, mapping=mapping, config=config, seed=args.seed):
        pass
    seconds = (time.perf_counter() - started) / len(paths)
    result = last.result
    metrics = {name: summarise(values) for name, values in seed_metrics(result, targets).items()}
    report = {
        "model": args.model,
        "method": args.method,
        "transform": args.transform,
        "space": args.space,
        "n": len(paths),
        "budget": args.budget,
        "evaluations": result.evaluations,
        "seconds_per_image": seconds,
        **metrics,
        "seeds": args.seeds,
        "seed": args.seed,
        "objective": result.loss_name,
        "config": config.to_dict(),
        **device_figures(device),
    }
    print_table(report)
    return report


def print_table(report: dict) -> None:
    """One row in the manner of pix2latent's Table 1 (mean of seeds / best of seeds)."""

    def cell(name: str) -> str:
        value = report[name]
        return f"{'n/a':>17}" if value is None else f"{value['mean_of_seeds']:>8.4f}/{value['best_of_seeds']:<8.4f}"

    print(
        f"{report['model']}: {report['n']} images, budget {report['budget']} forward passes per image "
        f"({report['evaluations']} used), {report['seeds']} seeds, objective {report['objective']}"
        f"{'' if report['lpips'] is not None else ' (LPIPS backbone not available: L1 alone)'}"
    )
    print(
        f"{'method':<10} {'transform':<14} {'space':<5} | {'L1 mean/best':>17} | {'L2 mean/best':>17} | "
        f"{'LPIPS mean/best':>17} | s/image"
    )
    print(
        f"{report['method']:<10} {report['transform']:<14} {report['space']:<5} | {cell('l1')} | {cell('l2')} | "
        f"{cell('lpips')} | {report['seconds_per_image']:.2f}"
    )


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``projection`` to ``python -m engines.bench``."""
    parser = commands.add_parser("projection", help="pix2latent projection (CMA, BasinCMA, transforms)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--method", default="basincma", choices=METHODS)
    parser.add_argument("--transform", default="none", choices=TRANSFORMS)
    parser.add_argument("--space", default="x", choices=["x", "z"])
    parser.add_argument("--budget", type=int, default=5400, help="generator forward passes per image")
    parser.add_argument("--seeds", type=int, default=18, help="seeds / population size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--inner-steps", type=int, default=None, help="Adam steps per BasinCMA sample (default 30)")
    parser.add_argument("--z-lr", type=float, default=None, help="Adam lr of z (default 0.05)")
    parser.add_argument("--sigma", type=float, default=None, help="CMA's initial step over z (default 1.0)")
    parser.add_argument("--truncation", type=float, default=None, help="clamp |z| to this after each step")
    parser.add_argument("--final-fraction", type=float, default=None, help="BasinCMA's final-Adam share (0.5)")
    parser.add_argument("--final-members", type=int, default=None, help="members the final Adam refines (all)")
    parser.add_argument("--transform-sigma", type=float, default=None, help="CMA's initial step over φ (0.15)")
    parser.add_argument("--transform-fraction", type=float, default=None, help="stage 1's budget share (0.3)")
    parser.add_argument("--transform-steps", type=int, default=None, help="Adam steps per φ candidate (10)")
    parser.add_argument("--transform-lr", type=float, default=None, help="stage 1's Adam lr on φ (0.01)")
    add_device_argument(parser)
    parser.set_defaults(run=run_projection_bench)
