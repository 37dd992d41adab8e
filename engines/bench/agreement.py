"""``python -m engines.bench agreement``: how closely a fast FFHQ model draws what the full network draws, e.g.
    python -m engines.train --threads 1 ffhq-renders --out runs/ffhq_test --count 1000 --seed 1 --psi-min 1 --psi-max 1
    python -m engines.bench --threads 1 agreement --model ffhq64 --renders runs/ffhq_test --n 1000 --json OUT.json

For every style of ``--renders`` (w and the full 1024² network's area downsample, written by
``engines.train ffhq-renders``; use styles the model was not fitted on) the fast model's image of the same w
is compared with the downsample: PSNR (dB, images in [-1, 1]) and LPIPS, mean and spread.

JSON keys: model, n, psnr_mean, psnr_std, psnr_min, lpips_mean, lpips_std, seconds_per_image.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def run_agreement(args: argparse.Namespace) -> dict:
    from engines.models.ffhq.model import FFHQForward
    from engines.models.ffhq.training import agreement, load_renders
    from engines.models.registry import load_model

    model = load_model(args.model)
    if not isinstance(model, FFHQForward):
        raise SystemExit(f"agreement compares an FFHQ fast model with the full network; {args.model!r} is not one")
    size = model.output_shape[-1]
    w, images = load_renders(args.renders, f"image{size}", limit=args.n)
    started = time.perf_counter()
    figures = agreement(model.fast, w, images)
    seconds = (time.perf_counter() - started) / len(w)
    print(
        f"{args.model} against the full network's {size}² downsample on {figures['n']} styles of {args.renders}: "
        f"PSNR {figures['psnr_mean']:.2f} ± {figures['psnr_std']:.2f} dB (min {figures['psnr_min']:.2f}), "
        f"LPIPS {figures.get('lpips_mean', float('nan')):.4f} ± {figures.get('lpips_std', float('nan')):.4f}"
    )
    return {"model": args.model, **figures, "seconds_per_image": seconds}


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``agreement`` to ``python -m engines.bench``."""
    parser = commands.add_parser("agreement", help="a fast FFHQ model against the full network's downsample")
    parser.add_argument("--model", default="ffhq64")
    parser.add_argument("--renders", type=Path, required=True, help="ffhq-renders output of styles not fitted on")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=None)
    parser.set_defaults(run=run_agreement)
