"""How often the face detector finds a face in 64×64 targets: training faces against non-faces.

``PYTHONPATH=. python scripts/domain_detector.py --n 200`` runs MTCNN (as :func:`app.domain.face_found`
does) on ``--n`` CelebA *training* faces (evenly spaced over 1-8000, centre crop; the held-out faces
8001-9000 are not used), ``--n`` AFHQ cats, ``--n`` MNIST training digits (upscaled to 64×64 RGB) and
``--n`` synthetic scenes (vertical gradients with a dark block, like a building against the sky), and
prints the share of each in which a face is found. :mod:`app.domain` records the result.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from PIL import Image

from app.domain import face_found
from engines.io.data import data_path
from engines.io.images import prepare_image


def scene(seed: int) -> torch.Tensor:
    """A 3 x 64 x 64 church-like scene in [-1, 1]: sky gradient, a dark building with a tower, ground."""
    rng = np.random.default_rng(seed)
    sky = np.linspace(rng.uniform(0.5, 1), rng.uniform(0.2, 0.6), 64)[:, None, None] * rng.uniform(0.6, 1, 3)
    image = np.broadcast_to(sky, (64, 64, 3)).copy()
    left, top = rng.integers(8, 24), rng.integers(24, 40)
    image[top:, left : left + rng.integers(20, 36)] = rng.uniform(0.1, 0.5, 3)
    tower = left + rng.integers(2, 10)
    image[rng.integers(4, 16) :, tower : tower + 8] = rng.uniform(0.1, 0.5, 3)
    image[56:] = rng.uniform(0.2, 0.5, 3)
    return torch.from_numpy(image).permute(2, 0, 1).float() * 2 - 1


def digit(array: np.ndarray) -> torch.Tensor:
    image = Image.fromarray(array).convert("RGB").resize((64, 64), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 127.5 - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    faces = np.linspace(1, 8000, args.n).round().astype(int)
    cats = sorted(data_path("afhq_cat64").glob("*.jpg"))[: args.n]
    mnist = np.load(data_path("mnist.npz"))["x_train"][: args.n]
    sets = {
        "celeba_train": (prepare_image(data_path("celeba") / f"{i:06d}.jpg", 64).tensor for i in faces),
        "afhq_cat": (prepare_image(path, 64).tensor for path in cats),
        "mnist_train": (digit(array) for array in mnist),
        "scenes": (scene(seed) for seed in range(args.n)),
    }
    summary = {}
    for name, tensors in sets.items():
        found = [face_found(tensor) for tensor in tensors]
        summary[name] = {"n": len(found), "face_found": sum(found), "share": round(sum(found) / len(found), 3)}
        print(name, summary[name], flush=True)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
