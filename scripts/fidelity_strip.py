"""The fidelity strip in docs/: held-out faces aligned, then X@200, Z→X@200 and the full pipeline's final.

    PYTHONPATH=. python scripts/fidelity_strip.py --first 8001 --count 8 --steps 200 --out docs/fidelity_strip.png

Columns are CelebA test faces ``first .. first+count-1`` (aligned as the app aligns uploads); rows are the
aligned target, plain X-space, Z→X (hand-off 5) and Z→X + the last stage, all at the same total step
budget, each frame labelled with its MSE + LPIPS.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from engines.bench.fidelity import load_targets, reconstruct
from engines.core.losses import get_loss
from engines.io.data import data_path
from engines.io.images import tensor_to_image
from engines.models.registry import load_model

ROWS = (("X", "x"), ("Z->X", "zx"), ("final", "full"))  # ASCII: PIL's default font has no arrow
SCALE = 2
LABEL = 14


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first", type=int, default=8001)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("docs/fidelity_strip.png"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model("faces64")
    paths = [data_path("celeba") / f"{number:06d}.jpg" for number in range(args.first, args.first + args.count)]
    targets, aligned = load_targets(model, paths, align=True)
    rows = [("target", targets, None)]
    for label, pipeline in ROWS:
        images = reconstruct(model, targets, pipeline=pipeline, steps=args.steps)
        with torch.no_grad():
            rows.append((f"{label}@{args.steps}", images, get_loss("mse+lpips")(images, targets)))
        print(f"{label}@{args.steps}: mean MSE + LPIPS {float(rows[-1][2].mean()):.4f}")
    size = targets.shape[-1] * SCALE
    sheet = Image.new("RGB", (args.count * size, len(rows) * (size + LABEL)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (label, images, losses) in enumerate(rows):
        top = row * (size + LABEL)
        for column, image in enumerate(images):
            sheet.paste(tensor_to_image(image).resize((size, size), Image.Resampling.NEAREST), (column * size, top))
            text = label if losses is None else f"{label} {float(losses[column]):.3f}"
            draw.text((column * size + 2, top + size), text if column == 0 or losses is not None else "", fill="black")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"aligned {aligned} of {args.count}; wrote {args.out}")


if __name__ == "__main__":
    main()
