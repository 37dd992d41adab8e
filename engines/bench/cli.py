"""Benchmarks: ``python -m engines.bench {inversion,pose,landscape} ...`` (one module per benchmark).

inversion: X-space vs Z-space on a folder of images, e.g.
    python -m engines.bench inversion --model faces64 --data DIR --n 100 --steps 200 \
        --optimizer adam --seed 0 --json OUT.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path

import torch

from engines.core.evaluation import X_LR_GRID


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engines.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    commands = parser.add_subparsers(dest="command", required=True)

    inversion = commands.add_parser("inversion", help="X vs Z inversion of a folder of images")
    _add_common(inversion, n=100)
    inversion.add_argument(
        "--loss",
        default="auto",
        choices=["auto", "mse", "l1", "mse+lpips"],
        help="auto = mse+lpips when the LPIPS backbone is on disk, else mse",
    )
    inversion.add_argument("--sweep-x-lr", action="store_true", help=f"pick X's lr from {X_LR_GRID} on this data")
    inversion.set_defaults(run=lambda args: _delegate("engines.bench.inversion", "run_inversion_bench", args))

    pose = commands.add_parser("pose", help="X vs Z pose completion on cmu_mocap clips")
    _add_common(pose, n=200)
    pose.add_argument("--mask", default="none", choices=["none", "upper", "lower"])
    pose.add_argument("--sweep-x-lr", action="store_true", help=f"pick X's lr from {X_LR_GRID} on this data")
    pose.set_defaults(run=lambda args: _delegate("engines.bench.pose", "run_pose_bench", args))

    landscape = commands.add_parser("landscape", help="PCA loss surfaces of X and Z")
    landscape.add_argument("--model", default="faces64")
    landscape.add_argument("--data", required=True, type=Path)
    landscape.add_argument("--n", type=int, default=20)
    landscape.add_argument("--grid", type=int, default=25)
    landscape.add_argument(
        "--radius", type=float, default=None, help="window half-width in units of the optimiser's reach (default 1.2)"
    )
    landscape.add_argument("--steps", type=int, default=20)
    landscape.add_argument("--seed", type=int, default=0)
    landscape.add_argument("--json", type=Path, default=None)
    landscape.set_defaults(run=lambda args: _delegate("engines.bench.landscape", "run_landscape_bench", args))
    return parser


def _add_common(parser: argparse.ArgumentParser, *, n: int) -> None:
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--n", type=int, default=n)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "lbfgs"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--x-lr", type=float, default=None, help="X-space lr (default: the documented choice)")
    parser.add_argument("--z-lr", type=float, default=None, help="Z-space lr (default: 0.1 for Adam)")
    parser.add_argument("--json", type=Path, default=None)


def _delegate(module: str, function: str, args: argparse.Namespace) -> dict:
    return getattr(importlib.import_module(module), function)(args)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = args.run(args)
    if args.json and result is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    sys.stdout.flush()
