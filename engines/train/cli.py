"""Training CLI: ``python -m engines.train {generator,mapping,encoder,pose-prior,pose-mapping} ...`` (see ``--help``).

One module per model's commands (e.g. :mod:`engines.train.faces`), found by :func:`command_modules`.
The exact command that produced each shipped asset is recorded in assets/manifest.json.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil

import torch


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engines.train", description=__doc__)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in command_modules():
        module.add_commands(commands)
    return parser


def command_modules() -> list:
    """Every module of :mod:`engines.train` that adds sub-commands (``add_commands``), in name order."""
    import engines.train

    modules = [
        importlib.import_module(f"engines.train.{info.name}")
        for info in pkgutil.iter_modules(engines.train.__path__)
        if not info.name.startswith("_")
    ]
    return [module for module in modules if hasattr(module, "add_commands")]


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        args.run(args)
    except RuntimeError as error:
        from engines.core.device import is_out_of_memory

        if not is_out_of_memory(error):
            raise
        raise SystemExit(
            f"error: the device ran out of memory ({error}); lower --batch-size / --trajectories, "
            "spread the work over more GPUs with torchrun, or use --device cpu"
        ) from None
