"""The FFHQ models' bundled samples, ``app/samples/ffhq/`` (64×64 PNG):

- CelebA *training* faces aligned the FFHQ way (``face_007019.png``, ...: the page's default face 7019 first);
- faces the full 1024² network draws for fixed seeds at truncation 0.7, downsampled (``generated_seed0001.png``);
- the out-of-distribution cats of ``app/samples`` as they are.

    PYTHONPATH=. python scripts/make_ffhq_samples.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from PIL import Image

from engines.io.data import data_path
from engines.io.images import tensor_to_image
from engines.models.faces.align import align_face
from engines.models.ffhq.weights import load_mobilestylegan

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "app" / "samples" / "ffhq"
FACES = (7019, 7001, 7002, 7004)  # training faces (CelebA 000001-008000)
SEEDS = (1, 2, 3, 4)
TRUNCATION = 0.7


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for number in FACES:
        with Image.open(data_path("celeba") / f"{number:06d}.jpg") as opened:
            face, info = align_face(opened.convert("RGB"), 64, "ffhq")
        if not info.aligned:
            raise SystemExit(f"no face found in CelebA {number}")
        face.save(OUT / f"face_{number:06d}.png")
    generator = load_mobilestylegan()
    for seed in SEEDS:
        z = torch.randn(1, 512, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            w = generator.mapping.w_avg + TRUNCATION * (generator.mapping(z) - generator.mapping.w_avg)
            image = torch.nn.functional.avg_pool2d(generator.synthesise(w), 16)
        tensor_to_image(image[0]).save(OUT / f"generated_seed{seed:04d}.png")
    for cat in sorted((ROOT / "app" / "samples").glob("cat_*.png")):
        shutil.copy(cat, OUT / cat.name)
    print(f"wrote {len(list(OUT.glob('*.png')))} samples to {OUT}")


if __name__ == "__main__":
    main()
