"""``python -m engines.train mtcnn-weights --wheel facenet_pytorch-2.6.0-py3-none-any.whl``: the face
detector asset.

Fetch the wheel once with ``pip download --no-deps facenet-pytorch==2.6.0`` (do not install it: its torch
pin conflicts). It holds ``facenet_pytorch/data/{pnet,rnet,onet}.pt``, plain state dicts, read here with
``torch.load(weights_only=True)`` (tensors and containers only; no code is unpickled), checked against
:class:`engines.models.faces.mtcnn.MTCNN`, written as ``assets/mtcnn.safetensors`` under its names
(``pnet.conv1.weight``, ...) and registered in ``assets/manifest.json``. A check detects the bundled
sample face.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import torch

from engines.io.checkpoint import ASSETS_DIR, load_module_state, register_asset, save_tensors
from engines.models.faces.mtcnn import ASSET, MTCNN

LICENCE = "MIT (facenet-pytorch, Copyright (c) 2019 Timothy Esler); MTCNN by Zhang et al. 2016"
NETS = ("pnet", "rnet", "onet")
SAMPLE = Path(__file__).resolve().parents[2] / "app" / "samples" / "face_008311.png"


def read_wheel(wheel: Path) -> dict[str, torch.Tensor]:
    """Every net's tensors from the wheel, prefixed with the net's name."""
    tensors = {}
    with zipfile.ZipFile(wheel) as archive:
        for net in NETS:
            state = torch.load(io.BytesIO(archive.read(f"facenet_pytorch/data/{net}.pt")), weights_only=True)
            tensors.update({f"{net}.{name}": value.float() for name, value in state.items()})
    return tensors


def convert_mtcnn(args: argparse.Namespace) -> None:
    import numpy as np
    from PIL import Image

    from engines.models.faces.mtcnn import load_mtcnn

    tensors = read_wheel(args.wheel)
    load_module_state(MTCNN(), tensors, args.wheel)  # raises unless every name and shape fits
    path = ASSETS_DIR / f"{ASSET}.safetensors"
    config = {
        "kind": "mtcnn",
        "layout": "engines.models.faces.mtcnn.MTCNN state-dict names; inputs (RGB - 127.5) / 128",
        "licence": LICENCE,
        "source": f"{args.wheel.name}: facenet_pytorch/data/{{pnet,rnet,onet}}.pt",
    }
    save_tensors(path, tensors, config)
    entry = register_asset(
        ASSET,
        path,
        data=f"facenet-pytorch 2.6.0 wheel from PyPI ({args.wheel.name}): facenet_pytorch/data/*.pt",
        licence=LICENCE,
        command=f"python -m engines.train mtcnn-weights --wheel {args.wheel.name}",
        extra={"fetch": "pip download --no-deps facenet-pytorch==2.6.0  (the wheel; never installed)"},
    )
    with Image.open(SAMPLE) as sample:
        found = load_mtcnn(path).detect(np.asarray(sample.convert("RGB")))
    if len(found) != 1:
        raise ValueError(f"the converted detector found {len(found)} faces on {SAMPLE.name}, expected 1")
    print(f"wrote {path} ({entry['bytes']} bytes, sha256 {entry['sha256']})")
    print(f"{SAMPLE.name}: score {float(found.scores[0]):.4f}, landmarks {found.landmarks[0].round().tolist()}")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``mtcnn-weights`` to the training CLI."""
    parser = commands.add_parser("mtcnn-weights", help="convert facenet-pytorch 2.6.0's MTCNN weights to an asset")
    parser.add_argument("--wheel", type=Path, required=True, help="facenet_pytorch-2.6.0-py3-none-any.whl")
    parser.set_defaults(run=convert_mtcnn)
