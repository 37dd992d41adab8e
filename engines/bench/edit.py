"""``python -m engines.bench edit``: project digits, edit each to the 9 other classes, put the edits back, e.g.
    python -m engines.bench --threads 1 edit --model digits --data DIR --n 50 --method basincma \
        --transform spatial --budget 1800 --seeds 12 --fine-tune 0 --seed 0 --json OUT.json

Each image (the model's ``prepare_target``, the first N from ``--offset`` in sorted order) is projected
(:func:`engines.core.projection.project`, whole-image mask, class from the model's classifier), optionally
fine-tuned (:func:`~engines.core.projection.fine_tune`, a copy per image), then edited to each of the 9 other
classes (class strength 1) and put back into its own frame by a plain composite inside the region G's frame
covers under φ* (:func:`~engines.core.projection.edit.edit_projection`).

Keys: ``edit_success``: share of edits that ``mnist-classifier`` reads as the requested class, reading the put-back
image in the original frame through MNIST's own normalisation (:func:`mnist_view`: the digit's box scaled to 20 px,
its centre of mass put at the centre; computed from the image alone, never from φ); ``position_error_px``: mean
distance between the centres of mass of the original digit and of each edit, in original-frame pixels;
``reconstruction_l1``: mean |put-back − target| of the unedited projection (pixels in [-1, 1]);
``outside_mask_change``: max |put-back − target| outside the region (0 for a composite). Controls a copy of the
target must lose: ``copy_edit_success`` (the target itself as the "edit") and ``original_accuracy`` (the
classifier on the untouched targets against their file labels: the ceiling of the reading).
Pieces: ``--offset`` picks where the N images start; ``--combine A.json B.json ...`` joins pieces' per-image
records into one report with the same keys.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from engines.bench.common import device_figures, device_of
from engines.core.device import add_device_argument
from engines.core.projection import METHODS, ProjectionConfig, fine_tune, project
from engines.core.projection.edit import edit_projection
from engines.core.transforms import TRANSFORMS

MNIST_BOX = 20  # MNIST scales each digit's box to 20 px and centres its mass in 28 × 28
OBJECT_EXTENT = 0.75  # as the Projection tab frames objects


def mnist_view(images: Tensor, threshold: float = 0.2) -> Tensor:
    """``B x C x H x W`` in [-1, 1] -> ``B x 1 x 28 x 28`` in [0, 1] as MNIST prepares digits: grey, contrast
    stretched, the box of pixels above ``threshold`` of the brightest scaled to 20 px, its centre of mass at the
    centre. Computed from each image alone."""
    grey = (images.mean(1, keepdim=True) + 1) / 2
    grey = grey / grey.flatten(1).amax(1).clamp_min(1e-6).view(-1, 1, 1, 1)
    height, width = grey.shape[-2:]
    thetas = []
    for image in grey[:, 0]:
        rows, cols = torch.nonzero(image > threshold, as_tuple=True)
        if rows.numel() == 0:
            thetas.append(torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]))
            continue
        side = max(int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1)
        row, col = centre_of_mass(image[None, None])[0]
        scale = side / MNIST_BOX * 28 / torch.tensor([width, height]).float()  # output [-1,1] -> input [-1,1]
        shift = torch.stack([(col + 0.5) / width * 2 - 1, (row + 0.5) / height * 2 - 1])
        thetas.append(torch.tensor([[scale[0], 0, shift[0]], [0, scale[1], shift[1]]]))
    grid = F.affine_grid(torch.stack(thetas).to(grey), [len(grey), 1, 28, 28], align_corners=False)
    return F.grid_sample(grey, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def centre_of_mass(images: Tensor) -> Tensor:
    """``B x C x H x W`` in [-1, 1] (bright object on black) -> ``B x 2`` (row, column) in pixels."""
    weight = ((images.mean(1) + 1) / 2).clamp_min(0)
    rows = torch.arange(images.shape[-2], dtype=weight.dtype)[:, None]
    cols = torch.arange(images.shape[-1], dtype=weight.dtype)[None, :]
    total = weight.flatten(1).sum(1).clamp_min(1e-6)
    return torch.stack([(weight * rows).flatten(1).sum(1) / total, (weight * cols).flatten(1).sum(1) / total], 1)


def file_label(path: Path) -> int | None:
    """The label ``make_set`` writes into a digit's file name (``..._label7.png``), None when absent."""
    found = re.search(r"label(\d)", path.stem)
    return int(found.group(1)) if found else None


def _project(args: argparse.Namespace, generator, targets: Tensor):
    config = ProjectionConfig(
        method=args.method,
        transform=args.transform,
        budget=args.budget,
        population=args.seeds,
        object_extent=OBJECT_EXTENT,
    )
    last = None
    for last in project(generator, targets, config=config, seed=args.seed):
        pass
    return last.result


def _tuned(args: argparse.Namespace, generator, z: Tensor, target: Tensor, c: Tensor | None, phi: Tensor):
    if not args.fine_tune:
        return generator
    steps = fine_tune(
        generator,
        z,
        target,
        class_embedding=c,
        transform=phi,
        steps=args.tune_steps,
        lr=args.tune_lr,
        anchor=args.tune_anchor,
    )
    *_, last = steps
    return last.generator


def projections(args: argparse.Namespace, generator, targets: Tensor) -> dict[str, Tensor]:
    """Each image's best member: ``z``, ``class_embedding`` and ``transform`` (φ*), ``B x ...``. With ``--cache``
    they are read from / written to that safetensors file (keyed by the projection's settings), so runs that
    differ only in ``--fine-tune`` edit the very same projections."""
    from engines.io.checkpoint import load_tensors, save_tensors

    key = {name: getattr(args, name) for name in ("method", "transform", "budget", "seeds", "seed", "offset")}
    key |= {"data": str(args.data), "n": len(targets), "object_extent": OBJECT_EXTENT}
    if args.cache is not None and args.cache.is_file():
        tensors, meta = load_tensors(args.cache)
        if meta.get("key") != key:
            raise SystemExit(f"{args.cache} holds projections made with other settings: {meta.get('key')}")
        return tensors
    result = _project(args, generator, targets)
    found = {name: result.best(name).cpu() for name in ("z", "class_embedding")} | {"transform": result.transform}
    if args.cache is not None:
        save_tensors(args.cache, found, {"key": key})
    return found


def image_records(args: argparse.Namespace, generator, classifier, targets: Tensor, labels: list) -> list[dict]:
    """Per image: the projection, the 9 class edits put back, and what the classifier reads."""
    found = projections(args, generator, targets)
    records = []
    for index, target in enumerate(targets):
        target = target[None]
        z, phi = found["z"][index : index + 1], found["transform"][index : index + 1]
        c = found["class_embedding"][index : index + 1]
        model = _tuned(args, generator, z, target, c, phi)
        base = edit_projection(model, z, target, transform=phi, class_embedding=c)
        read_class = int(torch.cdist(c, model.class_embedding(torch.arange(10)).detach()).argmin())
        requested = [k for k in range(10) if k != read_class]
        repeated = target.expand(len(requested), -1, -1, -1)
        edits = edit_projection(
            model,
            z.expand(len(requested), -1),
            repeated,
            transform=phi.expand(len(requested), -1),
            class_embedding=c.expand(len(requested), -1),
            target_class=torch.tensor(requested),
        )
        with torch.no_grad():
            read = classifier(mnist_view(edits.put_back)).argmax(1).tolist()
            copy_read = classifier(mnist_view(repeated)).argmax(1).tolist()
            original = int(classifier(mnist_view(target)).argmax(1))
        outside = (edits.region < 0.5).expand_as(repeated)
        records.append(
            {
                "label": labels[index],
                "projected_class": read_class,
                "original_read": original,
                "requested": requested,
                "read": read,
                "copy_read": copy_read,
                "position_error_px": (centre_of_mass(edits.put_back) - centre_of_mass(target)).norm(dim=1).tolist(),
                "reconstruction_l1": float((base.put_back - target).abs().mean()),
                "outside_mask_change": float((edits.put_back - repeated).abs()[outside].max())
                if bool(outside.any())
                else 0.0,
            }
        )
    return records


def summary(records: list[dict], args: argparse.Namespace) -> dict:
    """The report's keys from per-image records (also joins pieces)."""
    edits = [(want, got) for record in records for want, got in zip(record["requested"], record["read"])]
    copies = [(want, got) for record in records for want, got in zip(record["requested"], record["copy_read"])]
    labelled = [record for record in records if record["label"] is not None]
    errors = [value for record in records for value in record["position_error_px"]]
    return {
        "model": args.model,
        "n": len(records),
        "method": args.method,
        "transform": args.transform,
        "fine_tune": int(args.fine_tune),
        "edit_success": sum(want == got for want, got in edits) / len(edits),
        "position_error_px": sum(errors) / len(errors),
        "reconstruction_l1": sum(record["reconstruction_l1"] for record in records) / len(records),
        "outside_mask_change": max(record["outside_mask_change"] for record in records),
        "copy_edit_success": sum(want == got for want, got in copies) / len(copies),
        "original_accuracy": sum(r["original_read"] == r["label"] for r in labelled) / max(1, len(labelled)),
        "projected_class_accuracy": sum(r["projected_class"] == r["label"] for r in labelled) / max(1, len(labelled)),
    }


def run_edit_bench(args: argparse.Namespace) -> dict:
    if args.combine:
        pieces = [json.loads(Path(path).read_text()) for path in args.combine]
        records = [record for piece in pieces for record in piece["records"]]
        report = {**summary(records, args), "pieces": [str(path) for path in args.combine]}
        report["seconds_per_image"] = sum(p["seconds_per_image"] * p["n"] for p in pieces) / max(1, len(records))
        print_line(report)
        return {**report, "records": records}
    from engines.io.images import list_images
    from engines.models.registry import load_model

    torch.manual_seed(args.seed)
    device = device_of(args)
    generator = load_model(args.model, device)
    classifier = load_model("mnist-classifier", device)
    paths = list_images(args.data)[args.offset : args.offset + args.n]
    if not paths:
        raise SystemExit(f"no images in {args.data} from {args.offset}")
    targets = torch.stack([generator.prepare_target(path)[0] for path in paths]).to(device)
    started = time.perf_counter()
    records = image_records(args, generator, classifier, targets, [file_label(path) for path in paths])
    report = {
        **summary(records, args),
        "budget": args.budget,
        "seeds": args.seeds,
        "seed": args.seed,
        "offset": args.offset,
        "data": str(args.data),
        "fine_tune_settings": {"steps": args.tune_steps, "lr": args.tune_lr, "anchor": args.tune_anchor},
        "seconds_per_image": (time.perf_counter() - started) / len(paths),
        **device_figures(device),
    }
    print_line(report)
    return {**report, "records": records}


def print_line(report: dict) -> None:
    print(
        f"edit {report['model']} n={report['n']} {report['method']}+{report['transform']} "
        f"fine_tune={report['fine_tune']}: edit_success {100 * report['edit_success']:.1f} % · "
        f"position_error_px {report['position_error_px']:.2f} · reconstruction_l1 {report['reconstruction_l1']:.4f} "
        f"· outside_mask_change {report['outside_mask_change']:.3g} · controls: copy {100 * report['copy_edit_success']:.1f} %"
        f", originals read {100 * report['original_accuracy']:.1f} %"
    )


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``edit`` to ``python -m engines.bench``."""
    parser = commands.add_parser("edit", help="class edits of projected digits, put back into their frame")
    parser.add_argument("--model", default="digits")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--offset", type=int, default=0, help="the first image (sorted) of this piece")
    parser.add_argument("--method", default="basincma", choices=METHODS)
    parser.add_argument("--transform", default="spatial", choices=TRANSFORMS)
    parser.add_argument("--budget", type=int, default=1800, help="generator forward passes per image")
    parser.add_argument("--seeds", type=int, default=12, help="seeds / population size")
    parser.add_argument("--fine-tune", type=int, default=0, choices=[0, 1])
    parser.add_argument("--tune-steps", type=int, default=200, help="fine-tune steps (pix2latent §3.5)")
    parser.add_argument("--tune-lr", type=float, default=1e-4)
    parser.add_argument("--tune-anchor", type=float, default=1e3, help="λ of the L2 pull to the original weights")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=None, help="a safetensors file for the projections (reused)")
    parser.add_argument("--combine", type=Path, nargs="+", default=None, help="join these pieces' JSON files")
    add_device_argument(parser)
    parser.set_defaults(run=run_edit_bench)
