"""Benchmarks: ``python -m engines.bench {inversion,hypotheses,pose,landscape} ...`` (one module per benchmark).

inversion: X-space vs Z-space on a folder of images, e.g.
    python -m engines.bench inversion --model faces64 --data DIR --n 100 --steps 200 \
        --optimizer adam --seed 0 --json OUT.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import pkgutil
import sys

import torch


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engines.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    commands = parser.add_subparsers(dest="command", required=True)

    for module in bench_modules():
        module.add_command(commands)
    return parser


def bench_modules() -> list:
    """Every module of :mod:`engines.bench` that adds a sub-command (``add_command``), in name order."""
    import engines.bench

    modules = [
        importlib.import_module(f"engines.bench.{info.name}")
        for info in pkgutil.iter_modules(engines.bench.__path__)
        if not info.name.startswith("_")
    ]
    return [module for module in modules if hasattr(module, "add_command")]


def run_reporting_errors(args: argparse.Namespace):
    """``args.run(args)``; a bad device or the GPU running out of memory ends with a clear message."""
    from engines.core.device import DeviceOutOfMemoryError, is_out_of_memory

    try:
        return args.run(args)
    except DeviceOutOfMemoryError as error:
        raise SystemExit(f"error: {error}") from None
    except RuntimeError as error:
        if is_out_of_memory(error):
            raise SystemExit(
                f"error: the device ran out of memory ({error}); try a smaller --n or --device cpu"
            ) from None
        raise
    except ValueError as error:
        if "--device" in str(error):
            raise SystemExit(f"error: {error}") from None
        raise


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run_reporting_errors(args)
    if args.json and result is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    sys.stdout.flush()
