"""Invert one image file into a PNG strip of steps: X-space, Z-space and Z→X rows (one batch of F per step).

python -m engines.invert face.jpg --out strip.png --steps 200
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from tqdm import tqdm

from engines.core.device import add_device_argument, resolve_device
from engines.core.optim import Space, invert_spaces
from engines.io.images import tensor_to_image
from engines.models.registry import load_mapping, load_model

logger = logging.getLogger(__name__)


def strip_steps(steps: int, frames: int) -> list[int]:
    """``frames`` step indices from 0 to ``steps``, roughly log-spaced (early steps matter most)."""
    if steps <= frames:
        return list(range(steps + 1))
    return sorted({0} | {round(steps ** (i / (frames - 2))) for i in range(frames - 1)})


def run(args: argparse.Namespace) -> Path:
    device = resolve_device(args.device)
    forward = load_model(args.model, device)
    target, notice = forward.prepare_target(args.image)
    print(f"{args.image}: {notice}")
    wanted = set(strip_steps(args.steps, args.frames))
    mapping = mapping_of(args, forward, device)
    spaces = {
        "X": Space(lr=args.x_lr),
        "Z": Space(mapping=mapping, lr=args.z_lr),
        "Z→X": Space(mapping=mapping, lr=args.z_lr, handoff=args.handoff, handoff_lr=args.handoff_lr),
    }
    rows = {label: [] for label in spaces}
    steps = invert_spaces(
        forward,
        target[None],
        list(spaces.values()),
        optimizer=args.optimizer,
        steps=args.steps,
        loss=args.loss,
        keep_output=lambda index: index in wanted,
    )
    for step_per_space in tqdm(steps, total=args.steps + 1, desc="X, Z, Z→X", unit="step"):
        for label, step in zip(spaces, step_per_space):
            if step.output is not None:
                rows[label].append((step.index, float(step.losses[0]), tensor_to_image(step.output[0].cpu())))
    path = save_strip(target, rows, Path(args.out), scale=args.scale)
    for label, frames in rows.items():
        print(f"{label}: loss {frames[0][1]:.5f} -> {frames[-1][1]:.5f} after {args.steps} steps")
    print(f"wrote {path}")
    return path


def mapping_of(args: argparse.Namespace, forward, device):
    """``--mapping FILE`` (a Θ file, e.g. one downloaded from the "Learn Θ" tab; checked against the model),
    else the model's shipped Θ."""
    if args.mapping is None:
        return load_mapping(args.model, device)
    from engines.core.mapping import load_mapping_file

    mapping = load_mapping_file(args.mapping, x_dim=forward.input_dim)
    print(f"Θ from {args.mapping}")
    return mapping.eval().requires_grad_(False).to(device)


def save_strip(target: torch.Tensor, rows: dict, out: Path, *, scale: int = 2) -> Path:
    """Target on the left, then one labelled frame per kept step, one row per space."""
    size = target.shape[-1] * scale
    columns = 1 + max(len(frames) for frames in rows.values())
    sheet = Image.new("RGB", (columns * size, len(rows) * (size + 14)), "white")
    draw = ImageDraw.Draw(sheet)
    target_image = tensor_to_image(target).resize((size, size), Image.Resampling.NEAREST)
    for row, (label, frames) in enumerate(rows.items()):
        top = row * (size + 14)
        sheet.paste(target_image, (0, top))
        draw.text((2, top + size), f"target / {label}", fill="black")
        for column, (index, loss, image) in enumerate(frames, start=1):
            sheet.paste(image.resize((size, size), Image.Resampling.NEAREST), (column * size, top))
            draw.text((column * size + 2, top + size), f"{index}: {loss:.4f}", fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out


def main(argv: list[str] | None = None) -> None:
    from engines.core.evaluation import inversion_defaults

    parser = argparse.ArgumentParser(
        prog="python -m engines.invert", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("image", type=Path)
    parser.add_argument("--out", type=Path, default=Path("inversion.png"))
    parser.add_argument("--model", default="faces64")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--frames", type=int, default=8, help="frames per row")
    parser.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "lbfgs"])
    parser.add_argument("--x-lr", type=float, default=None)
    parser.add_argument("--z-lr", type=float, default=None)
    parser.add_argument("--handoff", type=int, default=None, help="Z→X: Z steps before X (default: the model's)")
    parser.add_argument("--handoff-lr", type=float, default=None, help="Z→X: X lr after the hand-off")
    parser.add_argument(
        "--loss",
        default="mse+lpips",
        choices=["mse", "l1", "mse+lpips"],
        help="default MSE + LPIPS (pixel MSE when LPIPS weights are absent)",
    )
    parser.add_argument(
        "--mapping", type=Path, default=None, help="a Θ file (.safetensors) instead of the model's shipped Θ"
    )
    parser.add_argument("--scale", type=int, default=2, help="pixel upscaling of each frame")
    add_device_argument(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    defaults = inversion_defaults(args.model, args.optimizer)
    args.x_lr = args.x_lr or defaults.x_lr
    args.z_lr = args.z_lr or defaults.z_lr
    args.handoff = defaults.handoff if args.handoff is None else args.handoff
    args.handoff_lr = args.handoff_lr or defaults.handoff_lr
    try:
        run(args)
    except (ValueError, RuntimeError, FileNotFoundError) as error:  # bad input, bad --device, or out of GPU memory
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
