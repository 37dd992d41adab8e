"""How much can a transform search give on warped faces at all? Adam on each face as ``make_set faces-warped``
warps it, against Adam on the same photo's unwarped centre square (a perfect search over shift, scale and rotation,
measured in the aligned frame, the most favourable one). Issue 20; use training faces only:

``PYTHONPATH=. python scripts/projection_alignment_oracle.py --first 7001 --count 16 --seed 21``

The set's random draws are replayed from ``--seed`` exactly as ``make_set`` draws them, so the warped targets are
the PNGs of ``make_set faces-warped --first F --count N --seed S``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image

from engines.bench.make_set import warped_face
from engines.bench.projection import seed_metrics, summarise
from engines.core.projection import ProjectionConfig, project
from engines.io.data import data_path
from engines.models.registry import load_model


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="faces64")
    parser.add_argument("--first", type=int, default=7001)
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--seed", type=int, default=21, help="make_set's --seed for the warped set")
    parser.add_argument("--budget", type=int, default=1800)
    parser.add_argument("--seeds", type=int, default=12)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    generator = load_model(args.model, "cpu")
    warped, aligned, draws = [], [], []
    for number in range(args.first, args.first + args.count):
        with Image.open(data_path("celeba") / f"{number:06d}.jpg") as photo:
            replay = np.random.default_rng()
            replay.bit_generator.state = rng.bit_generator.state
            draws.append((replay.uniform(-15, 15), replay.uniform(0.8, 1.2)))  # warped_face's angle and scale
            warped.append(generator.prepare_target(warped_face(photo, rng))[0])
            aligned.append(generator.prepare_target(photo)[0])  # prepare_target crops the centre square
    config = ProjectionConfig(method="adam", transform="none", budget=args.budget, population=args.seeds)
    report = {}
    for name, images in (("warped", warped), ("aligned", aligned)):
        targets = torch.stack(images)
        last = None
        for last in project(generator, targets, config=config, seed=0):
            pass
        l1 = seed_metrics(last.result, targets)["l1"]
        report[name] = summarise(l1) | {"per_image_best": [round(float(v), 4) for v in l1.min(1).values]}
        print(f"{name:8s} L1 mean {report[name]['mean_of_seeds']:.4f} / best {report[name]['best_of_seeds']:.4f}")
    for key in ("mean_of_seeds", "best_of_seeds"):
        gain = 1 - report["aligned"][key] / report["warped"][key]
        print(f"perfect alignment: {gain:.1%} lower {key.replace('_', ' ')}")
    print("angle (deg), scale per face:", [(round(a, 1), round(s, 2)) for a, s in draws])
    return report


if __name__ == "__main__":
    main()
