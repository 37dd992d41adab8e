"""``python -m engines.bench fidelity``: how close the app's default face pipeline gets to each target, e.g.
    python -m engines.bench --threads 1 fidelity --data DIR --n 100 --steps 200 --seed 0 --json OUT.json

The pipeline (``--pipeline full``, the app's default): each image is aligned to the training crop
(MTCNN landmarks, :mod:`engines.models.faces.align`; the centre crop when no face is found), then
Z→X (``--handoff`` Z steps, then X-space) and the expressive last stage in the generator's feature
map (:mod:`engines.models.faces.last_stage`), as the app's "Refine past the generator": only on targets
where the face detector finds a face in the 64×64 target (the others run Z→X for all steps; the count is
printed). ``--steps`` counts all steps together: the last stage takes ``LastStage.share`` of them (half:
100 of 200), Z→X the rest. "Before" lines: ``--pipeline zx``
(Z→X for all steps) and ``--pipeline x`` (plain X-space for all steps); ``--no-align`` uses centre crops.

Any face model works (``--model faces64``, ``ffhq64``, ``ffhq64-w``, ...): each aligns to its own crop (the
CelebA training crop for faces64, the FFHQ crop for the FFHQ models). Pixels an aligned crop takes from outside
the photo are unknown: hidden from the loss, as on the page, and left out of every figure. The last stage ("full") exists for faces64 only; other models run Z→X there.

JSON keys: model, n, steps, aligned (targets where a face was found and aligned), final_loss (mean
MSE + LPIPS at the end), final_lpips, final_psnr (dB, images in [-1, 1]), retrieval_top1 (share of
targets whose reconstruction is closer in LPIPS to its own target than to every other target). The
printed ``unknown_share`` is the mean share of target pixels outside the photo (not a JSON key).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from engines.bench.common import device_of
from engines.core.device import add_device_argument
from engines.core.evaluation import inversion_defaults
from engines.core.losses import get_loss, mse_loss
from engines.core.optim import invert
from engines.io.images import image_to_tensor, list_images, to_rgb
from engines.models.faces.last_stage import LastStage, face_in_target, fidelity_steps
from engines.models.faces.model import FaceGenerator
from engines.models.registry import load_mapping, load_model

DEFAULT_MODEL = "faces64"  # the app's default face model
PIPELINES = ("full", "zx", "x")


def load_targets(model, paths: list[Path], *, align: bool) -> tuple[Tensor, int, Tensor]:
    """``n x 3 x S x S`` targets in [-1, 1], how many of them were aligned (a face found) and their known
    pixels ``n x 1 x S x S`` (0 where the aligned crop lies outside the photo)."""
    from engines.models.faces.align import UNKNOWN_SHARE, align_face

    size = model.output_shape[-1]
    images, aligned, known = [], 0, []
    for path in paths:
        if not align:
            images.append(model.prepare_target(path)[0])
            known.append(torch.ones(1, size, size))
            continue
        with Image.open(path) as opened:
            face, info = align_face(to_rgb(opened), size, model.face_crop)
        images.append(image_to_tensor(face))
        aligned += info.aligned
        inside = torch.ones(size, size) if info.outside is None else torch.from_numpy(info.outside < UNKNOWN_SHARE)
        known.append(inside.float()[None])
    return torch.stack(images), aligned, torch.stack(known)


def last_stage_of(pipeline: str) -> LastStage:
    """The shipped last stage for the "full" pipeline; none (all steps to Z→X) for "zx"."""
    return LastStage() if pipeline == "full" else LastStage(share=0.0)


def reconstruct(
    model: FaceGenerator, targets: Tensor, *, pipeline: str, steps: int, model_name: str = DEFAULT_MODEL,
    handoff: int | None = None, gate: Tensor | None = None, weight: Tensor | None = None,
) -> Tensor:  # fmt: skip
    """The final images ``n x 3 x S x S`` of ``pipeline`` ("full", "zx" or "x") after ``steps`` steps, with the
    model's saved inversion defaults (:func:`engines.core.evaluation.inversion_defaults`; ``handoff`` overrides
    the hand-off step). gate: for "full", the targets (``n`` bools) the last stage may refine, as the app
    does (a face found in the target); the others run Z→X for all steps. None: all of them.
    weight: ``n x 1 x S x S`` known pixels (None: all known)."""
    options = dict(steps=steps, model_name=model_name, handoff=handoff)
    if pipeline == "full" and gate is not None and not bool(gate.all()):
        images = torch.empty_like(targets)
        for chosen, kind in ((gate, "full"), (~gate, "zx")):
            if bool(chosen.any()):
                part = None if weight is None else weight[chosen]
                images[chosen] = reconstruct(model, targets[chosen], pipeline=kind, weight=part, **options)
        return images
    defaults = inversion_defaults(model_name, "adam")

    def last_only(index: int) -> bool:
        return index == steps

    if pipeline == "x":
        run = invert(
            model, targets, lr=defaults.x_lr, steps=steps, loss="mse+lpips", weight=weight, keep_output=last_only
        )
    else:
        last = last_stage_of(pipeline)
        mapping = load_mapping(model_name, targets.device)
        run = fidelity_steps(
            model, mapping, targets, steps=steps, handoff=defaults.handoff if handoff is None else handoff,
            z_lr=defaults.z_lr, x_lr=defaults.handoff_lr, weight=weight,
            last=last, keep_output=last_only,
        )  # fmt: skip
    *_, final = run
    return final.output.to(targets.device)


@torch.no_grad()
def fidelity_figures(reconstructions: Tensor, targets: Tensor, weight: Tensor | None = None) -> dict[str, float]:
    """Mean MSE + LPIPS, LPIPS and PSNR of ``reconstructions`` against ``targets`` (both ``n x 3 x S x S``
    in [-1, 1]) over the known pixels ``weight`` (``n x 1 x S x S``; None: all), and the LPIPS retrieval
    top-1 rate over the set (each pair compared on the target's known pixels)."""
    both, mse = get_loss("mse+lpips"), mse_loss(reconstructions, targets, weight)
    lpips = both(reconstructions, targets, weight) - mse
    psnr = 10 * torch.log10(4.0 / mse.clamp(min=1e-12))
    count = len(targets)
    distances = torch.stack([
        both(reconstructions[index : index + 1].expand(count, -1, -1, -1), targets, weight)
        - mse_loss(reconstructions[index : index + 1].expand(count, -1, -1, -1), targets, weight)
        for index in range(count)
    ])  # fmt: skip
    own = distances.diagonal()
    others = distances + torch.eye(count, device=distances.device) * torch.finfo(distances.dtype).max
    top1 = (own[:, None] < others).all(dim=1).float().mean() if count > 1 else torch.tensor(1.0)
    return {
        "final_loss": float((mse + lpips).mean()),
        "final_lpips": float(lpips.mean()),
        "final_psnr": float(psnr.mean()),
        "retrieval_top1": float(top1),
    }


def run_fidelity_bench(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    device = device_of(args)
    model = load_model(args.model, device)
    if getattr(model, "face_crop", None) is None:
        raise SystemExit(f"fidelity needs a face generator; {args.model!r} is not one")
    paths = list_images(args.data)[: args.n]
    if not paths:
        raise SystemExit(f"no images in {args.data}")
    targets, aligned, known = load_targets(model, paths, align=not args.no_align)
    targets, known = targets.to(device), known.to(device)
    if args.pipeline == "full" and not isinstance(model, FaceGenerator):
        args.pipeline = "zx"  # the last stage is faces64's
        print(f"{args.model} has no last stage: pipeline full runs Z→X for all steps")
    zx_steps, last_steps = last_stage_of(args.pipeline).split(args.steps)
    defaults = inversion_defaults(args.model, "adam")
    handoff = defaults.handoff if args.handoff is None else args.handoff
    split = (
        f"{args.steps} X (lr {defaults.x_lr})"
        if args.pipeline == "x"
        else f"{zx_steps} Z→X (hand-off {handoff}, Z lr {defaults.z_lr}, X lr {defaults.handoff_lr}; {defaults.chosen_on})"
    )
    print(
        f"{args.model}: {len(targets)} images from {args.data}, aligned {aligned}, pipeline {args.pipeline}: "
        f"{split}{f' + {last_steps} last-stage' if args.pipeline == 'full' else ''} steps, loss mse+lpips"
    )
    gate = torch.tensor([face_in_target(target) for target in targets]) if args.pipeline == "full" else None
    if gate is not None:
        print(f"last stage on {int(gate.sum())} of {len(gate)} (a face found in the target; the rest: Z→X)")
    weight = None if bool(known.all()) else known
    images = reconstruct(
        model, targets, pipeline=args.pipeline, steps=args.steps, model_name=args.model, handoff=args.handoff,
        gate=gate, weight=weight,
    )  # fmt: skip
    figures = fidelity_figures(images, targets, weight)
    unknown = float(1 - known.mean())
    result = {"model": args.model, "n": len(targets), "steps": args.steps, "aligned": aligned, **figures}
    print(
        f"final_loss {figures['final_loss']:.4f}  final_lpips {figures['final_lpips']:.4f}  "
        f"final_psnr {figures['final_psnr']:.2f} dB  retrieval_top1 {figures['retrieval_top1']:.3f}  "
        f"unknown_share {unknown:.3f}"
    )
    return result


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``fidelity`` to ``python -m engines.bench``."""
    fidelity = commands.add_parser("fidelity", help="the default face pipeline's fidelity on a folder of images")
    fidelity.add_argument("--model", default=DEFAULT_MODEL)
    fidelity.add_argument("--data", required=True, type=Path)
    fidelity.add_argument("--n", type=int, default=100)
    fidelity.add_argument("--steps", type=int, default=200, help="all steps together (Z→X + last stage)")
    fidelity.add_argument("--seed", type=int, default=0)
    fidelity.add_argument("--handoff", type=int, default=None, help="Z steps before X-space (default: the saved one)")
    fidelity.add_argument("--pipeline", default="full", choices=PIPELINES, help="full (default), zx or x")
    fidelity.add_argument("--no-align", action="store_true", help="centre crops instead of aligned faces")
    fidelity.add_argument("--json", type=Path, default=None)
    add_device_argument(fidelity)
    fidelity.set_defaults(run=run_fidelity_bench)
