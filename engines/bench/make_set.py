"""Misaligned test sets for the projection benchmark (written as PNG files; never committed):

    python -m engines.bench.make_set faces --out DIR --first 8001 --count 10 --seed 0
    python -m engines.bench.make_set faces-warped --out DIR --first 8001 --count 100 --seed 0
    python -m engines.bench.make_set digits --out DIR --split test --count 10 --seed 0
    python -m engines.bench.make_set mnist --out DIR --split train --count 16 --seed 0
    python -m engines.bench.make_set mnist64 --out DIR --split train --count 16 --seed 0
    python -m engines.bench.make_set scenes --out DIR --count 16 --seed 0

faces: CelebA photos ``first .. first+count-1`` (8001–9000 is the test split), each cut as a square
window of random side (0.75–1.2 × the photo's width, edges replicated where it leaves the photo) at a
random offset: faces off-centre and rescaled. faces-warped: the training crop (the photo's centre
square) rotated ±15°, scaled 0.8–1.2× and shifted up to ±10 % of its side (edges replicated), at the
photo's resolution: what face alignment has to undo. digits: MNIST digits of ``split`` scaled 0.7–1.2×, shifted,
dimmed to 40–85 % brightness, on a black 36 × 36 canvas
(digits drawn at random from the split, which is stored sorted by label). mnist: the same draw of digits,
as they are (28 × 28, for the inversion benchmarks). mnist64: the same draw, upscaled to 64 × 64 RGB (white
digits on black). scenes: synthetic 64 × 64 non-face images (a sky/ground gradient with random shapes, a
smoothed-noise texture, or stripes), the controls that a face model's last stage must not copy
(:mod:`engines.bench.fidelity`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from engines.io.data import data_path

CANVAS = 36
SCENE_SIZE = 64
KINDS = ("faces", "faces-warped", "digits", "mnist", "mnist64", "scenes")


def misaligned_face(photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A square window of side 0.75–1.2 × the photo's width at a random offset (edges replicated)."""
    array = np.asarray(photo.convert("RGB"))
    height, width = array.shape[:2]
    side = int(round(width * rng.uniform(0.75, 1.2)))
    pad = side
    padded = np.pad(array, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    centre_x = width / 2 + rng.uniform(-0.18, 0.18) * width
    centre_y = height / 2 + rng.uniform(-0.18, 0.18) * width
    left, top = int(round(centre_x - side / 2)) + pad, int(round(centre_y - side / 2)) + pad
    return Image.fromarray(padded[top : top + side, left : left + side])


def warped_face(photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The photo's centre square rotated by ±15°, scaled 0.8–1.2× and shifted ±10 % of its side."""
    array = np.asarray(photo.convert("RGB"))
    height, width = array.shape[:2]
    side = min(height, width)
    padded = Image.fromarray(np.pad(array, ((side, side), (side, side), (0, 0)), mode="edge"))
    angle = np.deg2rad(rng.uniform(-15, 15))
    scale = rng.uniform(0.8, 1.2)
    shift = rng.uniform(-0.1, 0.1, size=2) * side
    centre = np.array([width / 2 + side, height / 2 + side])
    # output pixel p -> input centre + R(-angle) (p - side/2 - shift) / scale
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    linear = np.array([[cos, sin], [-sin, cos]])
    offset = centre - linear @ (np.array([side / 2, side / 2]) + shift)
    coefficients = (*linear[0], offset[0], *linear[1], offset[1])
    return padded.transform((side, side), Image.Transform.AFFINE, coefficients, Image.Resampling.BICUBIC)


def misaligned_digit(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A 28 × 28 digit scaled 0.7–1.2×, dimmed, pasted at a random place on a black canvas."""
    side = int(round(28 * rng.uniform(0.7, 1.2)))
    scaled = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BILINEAR), dtype=np.float64)
    scaled *= rng.uniform(0.4, 0.85)
    canvas = np.zeros((CANVAS, CANVAS))
    left, top = (int(rng.integers(0, CANVAS - side + 1)) for _ in range(2))
    canvas[top : top + side, left : left + side] = scaled
    return Image.fromarray(canvas.round().clip(0, 255).astype(np.uint8), mode="L")


def synthetic_scene(rng: np.random.Generator, size: int = SCENE_SIZE) -> Image.Image:
    """A ``size`` × ``size`` RGB non-face: one of a gradient scene with shapes, a noise texture or stripes."""
    from PIL import ImageDraw, ImageFilter

    kind = int(rng.integers(0, 3))
    rows = np.linspace(0, 1, size)[:, None, None]
    if kind == 0:  # sky over ground, a few flat shapes
        sky, ground = rng.uniform(0, 255, (2, 3)), rng.uniform(0, 255, (2, 3))
        horizon = int(rng.integers(size // 4, 3 * size // 4))
        array = np.where(np.arange(size)[:, None, None] < horizon, sky[0] + (sky[1] - sky[0]) * rows, ground[0] + (ground[1] - ground[0]) * rows)  # fmt: skip
        image = Image.fromarray(np.broadcast_to(array, (size, size, 3)).clip(0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(2, 6))):
            x0, y0 = rng.integers(0, size, 2)
            x1, y1 = x0 + rng.integers(6, size // 2), y0 + rng.integers(6, size // 2)
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            shape = (draw.ellipse, draw.rectangle)[int(rng.integers(0, 2))]
            shape((int(x0), int(y0), int(x1), int(y1)), fill=colour)
        return image
    if kind == 1:  # smoothed colour noise at a random scale
        coarse = int(rng.integers(3, 17))
        noise = rng.uniform(0, 255, (coarse, coarse, 3)).astype(np.uint8)
        image = Image.fromarray(noise).resize((size, size), Image.Resampling.BICUBIC)
        return image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 1.5))))
    angle, period = rng.uniform(0, np.pi), rng.uniform(4, 20)  # stripes of two colours
    y, x = np.mgrid[:size, :size]
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period)
    first, second = rng.uniform(0, 255, (2, 3))
    array = first + (second - first) * wave[..., None]
    return Image.fromarray(array.clip(0, 255).astype(np.uint8))


def make_set(kind: str, out: Path, *, count: int, seed: int, first: int = 8001, split: str = "test") -> list[Path]:
    """Write ``count`` misaligned images into ``out``; returns their paths."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    if kind in ("faces", "faces-warped"):
        for number in range(first, first + count):
            with Image.open(data_path("celeba") / f"{number:06d}.jpg") as photo:
                image = misaligned_face(photo, rng) if kind == "faces" else warped_face(photo, rng)
            paths.append(out / f"face_{number:06d}.png")
            image.save(paths[-1])
    elif kind == "scenes":
        for order in range(count):
            paths.append(out / f"scene_{order:04d}.png")
            synthetic_scene(rng).save(paths[-1])
    elif kind in ("digits", "mnist", "mnist64"):
        with np.load(data_path("mnist.npz")) as mnist:
            digits, labels = mnist[f"x_{split}"], mnist[f"y_{split}"]
        chosen = rng.permutation(len(digits))[:count]  # the file is sorted by label: draw across classes
        for order, index in enumerate(chosen):
            paths.append(out / f"digit_{order:04d}_{split}{index:05d}_label{int(labels[index])}.png")
            digit = misaligned_digit(digits[index], rng) if kind == "digits" else Image.fromarray(digits[index], "L")
            if kind == "mnist64":
                digit = digit.resize((SCENE_SIZE, SCENE_SIZE), Image.Resampling.BICUBIC).convert("RGB")
            digit.save(paths[-1])
    else:
        raise ValueError(f"unknown set {kind!r}; choose one of {', '.join(KINDS)}")
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m engines.bench.make_set",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, default=8001, help="faces: first CelebA number (8001+ = test split)")
    parser.add_argument("--split", default="test", choices=["train", "test"], help="digits: MNIST split")
    args = parser.parse_args(argv)
    paths = make_set(args.kind, args.out, count=args.count, seed=args.seed, first=args.first, split=args.split)
    print(f"wrote {len(paths)} images to {args.out}")


if __name__ == "__main__":
    main()
