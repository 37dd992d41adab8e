"""Reference outputs of MobileStyleGAN's OpenVINO IR, for the conversion test of ``engines/models/ffhq``.

Runs the IR files of the ``random-face`` wheel with the OpenVINO runtime, in a throwaway virtual
environment (OpenVINO is never a dependency of the app or of the tests), for 8 fixed z, and writes
``tests/engines/models/ffhq/ffhq_reference.npz``: the z, the mapping's w, a 64×64 area downsample of each
1024×1024 image and its 128×128 centre crop at full resolution (images in about [-1, 1], float16).

    pip download --no-deps random-face==2021.7.21.1 -d /tmp/rf     # never install it
    python -m venv /tmp/ov && /tmp/ov/bin/pip install openvino==2024.6.0
    /tmp/ov/bin/python scripts/ffhq_reference.py --wheel /tmp/rf/random_face-2021.7.21.1-py3-none-any.whl

Only numpy and openvino are imported; the wheel's own code never runs (its IR files are read from the zip).
"""

from __future__ import annotations

import argparse
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FILES = ("MappingNetwork.xml", "MappingNetwork.bin", "SynthesisNetwork.xml", "SynthesisNetwork.bin")
OUT = Path(__file__).resolve().parents[1] / "tests" / "engines" / "models" / "ffhq" / "ffhq_reference.npz"
COUNT, SEED, CROP = 8, 2021, 128


def main() -> None:
    import openvino as ov

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    core = ov.Core()
    core.set_property("CPU", {"INFERENCE_NUM_THREADS": 2, "INFERENCE_PRECISION_HINT": "f32"})
    with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(args.wheel) as archive:
        for name in FILES:
            (Path(folder) / name).write_bytes(archive.read(f"random_face/data/{name}"))
        mapping = core.compile_model(core.read_model(str(Path(folder) / "MappingNetwork.xml")), "CPU")
        synthesis = core.compile_model(core.read_model(str(Path(folder) / "SynthesisNetwork.xml")), "CPU")
    z = np.random.default_rng(SEED).standard_normal((COUNT, 512)).astype(np.float32)
    ws, small, crops = [], [], []
    start = (1024 - CROP) // 2
    for row in z:
        w = mapping(row[None])[0]
        image = synthesis(w)[0][0]  # 3 x 1024 x 1024
        ws.append(w[0])
        small.append(image.reshape(3, 64, 16, 64, 16).mean(axis=(2, 4)))
        crops.append(image[:, start : start + CROP, start : start + CROP])
    np.savez_compressed(
        args.out,
        z=z,
        w=np.stack(ws).astype(np.float32),
        image64=np.stack(small).astype(np.float16),
        crop128=np.stack(crops).astype(np.float16),
        crop_start=np.array([start, start]),
        openvino=np.array(ov.__version__),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) with OpenVINO {ov.__version__}")


if __name__ == "__main__":
    main()
