"""Training CLI: ``python -m engines.train {generator,mapping,pose-prior,pose-mapping} ...`` (see ``--help``).

One module per model's commands (:mod:`engines.train.faces`, :mod:`engines.train.pose`).
The exact command that produced each shipped asset is recorded in assets/manifest.json.
"""

from __future__ import annotations

import argparse
import logging

import torch

from engines.train import faces, pose

COMMAND_MODULES = (faces, pose)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engines.train", description=__doc__)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.run(args)
