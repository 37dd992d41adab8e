"""Convert MTCNN's P/R/O-net weights from the facenet-pytorch wheel into ``assets/mtcnn.safetensors``.

    pip download --no-deps facenet-pytorch==2.6.0 -d /tmp/fnp   # the wheel; never install it
    PYTHONPATH=. python scripts/convert_mtcnn.py --wheel /tmp/fnp/facenet_pytorch-2.6.0-py3-none-any.whl

The wheel holds ``facenet_pytorch/data/{pnet,rnet,onet}.pt``: plain state dicts. They are read with
``torch.load(weights_only=True)`` (tensors and containers only; no code is unpickled), checked against
:class:`engines.models.faces.mtcnn.MTCNN`, written under its names (``pnet.conv1.weight``, ...) and
registered in ``assets/manifest.json`` with their sha256.
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


def read_wheel(wheel: Path) -> dict[str, torch.Tensor]:
    """Every net's tensors from the wheel, prefixed with the net's name."""
    tensors = {}
    with zipfile.ZipFile(wheel) as archive:
        for net in NETS:
            state = torch.load(io.BytesIO(archive.read(f"facenet_pytorch/data/{net}.pt")), weights_only=True)
            tensors.update({f"{net}.{name}": value.float() for name, value in state.items()})
    return tensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path, required=True)
    args = parser.parse_args()
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
        command=f"python scripts/convert_mtcnn.py --wheel {args.wheel.name}",
        extra={"fetch": "pip download --no-deps facenet-pytorch==2.6.0  (the wheel; never installed)"},
    )
    print(f"wrote {path} ({entry['bytes']} bytes, sha256 {entry['sha256']})")


if __name__ == "__main__":
    main()
