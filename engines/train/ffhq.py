"""FFHQ face model commands.

- ``mobilestylegan-weights --wheel random_face-2021.7.21.1-py3-none-any.whl``: convert the wheel's OpenVINO IR
  (read as arrays, see :mod:`engines.models.ffhq.convert`) into ``assets/ffhq_generator``.
- ``ffhq-renders --out runs/ffhq_renders --count N``: render random styles with the full 1024² network and keep
  their area downsamples at 64² and 128² with the style (the data the fast models are fitted on). Resumable:
  chunks already on disk are kept.
- ``ffhq-fast --renders runs/ffhq_renders --test runs/ffhq_test --blocks 2 --student 256``: distil the fast 64²
  model (student block and head, :mod:`engines.models.ffhq.training`) on those renders, measure its agreement
  with the full network on the test renders, write ``assets/ffhq64_fast``. Resumable from ``--run-dir``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

from engines.io.checkpoint import (
    ASSETS_DIR,
    flatten_optimizer_state,
    register_asset,
    save_tensors,
    unflatten_optimizer_state,
)
from engines.train.common import command_line

logger = logging.getLogger(__name__)


def convert_weights(args: argparse.Namespace) -> None:
    from engines.models.ffhq.convert import convert_wheel
    from engines.models.ffhq.weights import CONVERT, FETCH, GENERATOR_ASSET, LICENCE, WHEEL, psnr

    model = convert_wheel(args.wheel)
    state = model.state_dict()
    half = {name: value.half() for name, value in state.items()}
    check = model.__class__()
    check.load_state_dict({name: value.float() for name, value in half.items()})
    z = torch.randn(4, 512, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        fidelity = psnr(check(z), model(z))
    use_half = bool(fidelity.min() >= 45.0)
    logger.info(
        "float16 storage: PSNR %s dB against float32 (%s)",
        fidelity.round(decimals=1).tolist(),
        "kept" if use_half else "float32 kept instead",
    )
    path = ASSETS_DIR / f"{GENERATOR_ASSET}.safetensors"
    config = {
        "kind": "mobilestylegan",
        "layout": "engines.models.ffhq.network.MobileStyleGAN state-dict names",
        "source": f"{args.wheel.name}: random_face/data/{{Mapping,Synthesis}}Network.{{xml,bin}} (OpenVINO IR v10)",
        "storage": "float16" if use_half else "float32",
        "float16_psnr_db": [round(float(value), 2) for value in fidelity],
        "w_avg": "mean w of 100,000 z ~ N(0, I), seed 0",
        "licence": LICENCE,
    }
    save_tensors(path, half if use_half else state, config)
    entry = register_asset(
        GENERATOR_ASSET,
        path,
        data=f"random-face 2021.7.21.1 wheel from PyPI ({WHEEL}): MobileStyleGAN, FFHQ 1024²",
        licence=LICENCE,
        command=CONVERT,
        extra={"fetch": f"{FETCH}  (the wheel; never installed)"},
    )
    print(f"wrote {path} ({entry['bytes']} bytes, sha256 {entry['sha256']}), storage {config['storage']}")


def sample_styles(count: int, *, seed: int, psi: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` random z and their truncation factors ψ ~ U(psi) (w = w_avg + ψ (mapping(z) − w_avg))."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(count, 512, generator=generator)
    low, high = psi
    return z, low + (high - low) * torch.rand(count, generator=generator)


@torch.no_grad()
def render_chunk(model, w: torch.Tensor) -> dict[str, torch.Tensor]:
    """64² and 128² area downsamples of the 1024² images of ``w`` (float16), one style at a time."""
    small, medium = [], []
    for row in w:
        image = model.synthesise(row[None])
        small.append(torch.nn.functional.avg_pool2d(image, 16))
        medium.append(torch.nn.functional.avg_pool2d(image, 8))
    return {"w": w, "image64": torch.cat(small).half(), "image128": torch.cat(medium).half()}


def make_renders(args: argparse.Namespace) -> None:
    from engines.models.ffhq.weights import load_mobilestylegan

    model = load_mobilestylegan()
    z, psi = sample_styles(args.count, seed=args.seed, psi=(args.psi_min, args.psi_max))
    args.out.mkdir(parents=True, exist_ok=True)
    for start in range(0, args.count, args.chunk):
        path = args.out / f"chunk_{start:06d}.safetensors"
        if path.is_file():
            continue
        began = time.perf_counter()
        rows = slice(start, min(start + args.chunk, args.count))
        with torch.no_grad():
            w = model.mapping.w_avg + psi[rows, None] * (model.mapping(z[rows]) - model.mapping.w_avg)
        tensors = render_chunk(model, w)
        config = {
            "seed": args.seed,
            "first": start,
            "psi": [args.psi_min, args.psi_max],
            "z_rows": [rows.start, rows.stop],
        }
        save_tensors(path, {**tensors, "z": z[rows], "psi": psi[rows]}, config)
        logger.info("%s: %d styles in %.1f s", path.name, rows.stop - rows.start, time.perf_counter() - began)


def _checkpoint(run_dir: Path, model, optimizer: torch.optim.Optimizer, epoch: int, history: list) -> None:
    """Student, head and Adam state after ``epoch`` (the smallest state that resumes the run)."""
    tensors, meta = flatten_optimizer_state(optimizer)
    save_tensors(
        run_dir / "checkpoint.safetensors",
        {**model.own_state(), **tensors},
        {"epoch": epoch, "optimizer": meta, "history": history},
    )


def distil_fast(args: argparse.Namespace) -> None:
    from engines.io.checkpoint import load_tensors
    from engines.models.ffhq.fast import FastFace, FastFaceConfig
    from engines.models.ffhq.model import FAST_ASSETS
    from engines.models.ffhq.training import (
        DistilConfig,
        agreement,
        cached_features,
        distil,
        init_student,
        least_squares_head,
        load_renders,
    )
    from engines.models.ffhq.weights import LICENCE, load_mobilestylegan

    config = FastFaceConfig(blocks=args.blocks, student=args.student, kernel=args.kernel)
    name = f"ffhq{config.resolution}"
    key = f"image{config.resolution}"
    model = FastFace(load_mobilestylegan().synthesis, config)
    w, images = load_renders(args.renders, key, limit=args.limit)
    test_w, test_images = load_renders(args.test, key, limit=args.test_limit)
    logger.info("%d training styles, %d test styles; caching trunk features", len(w), len(test_w))
    trunk = cached_features(model, w)
    distil_config = DistilConfig(epochs=args.epochs, lr=args.lr, lpips_weight=args.lpips_weight, seed=args.seed)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = args.run_dir / "checkpoint.safetensors"
    start_epoch, restore, history = 0, None, []
    if checkpoint.is_file():
        tensors, meta = load_tensors(checkpoint)
        model.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("optimizer.")}, strict=False)
        start_epoch, history = meta["epoch"], meta["history"]

        def restore(optimizer, tensors=tensors, meta=meta["optimizer"]):
            unflatten_optimizer_state(optimizer, tensors, meta)

        logger.info("resumed from %s at epoch %d", checkpoint, start_epoch)
    else:
        if config.student:
            init_student(model, w[: args.init_styles], trunk[: args.init_styles], images[: args.init_styles])
        least_squares_head(model, w, trunk, images)
        start = agreement(model, test_w, test_images)
        history.append({"epoch": 0, **start})
        logger.info("start: test PSNR %.2f dB, LPIPS %.4f", start["psnr_mean"], start.get("lpips_mean", float("nan")))
    for result in distil(model, w, trunk, images, distil_config, start_epoch=start_epoch, restore=restore):
        figures = agreement(model, test_w[: args.probe], test_images[: args.probe])
        history.append({"epoch": result["epoch"], "loss": result["loss"], **figures})
        logger.info(
            "epoch %d: loss %.4f, test PSNR %.2f dB, LPIPS %.4f (first %d test styles)",
            result["epoch"],
            result["loss"],
            figures["psnr_mean"],
            figures.get("lpips_mean", float("nan")),
            args.probe,
        )
        _checkpoint(args.run_dir, model, result["optimizer"], result["epoch"], history)
    final = agreement(model, test_w, test_images)
    asset = FAST_ASSETS[name]
    path = ASSETS_DIR / f"{asset}.safetensors"
    meta = {
        "kind": "ffhq-fast",
        "model": config.to_dict(),
        "distil": distil_config.to_dict(),
        "training_styles": len(w),
        "agreement": {**final, "against": f"the full network's {config.resolution}² area downsample, {args.test}"},
        "history": history,
        "licence": LICENCE,
    }
    save_tensors(path, {k: v.half() for k, v in model.own_state().items()}, meta)
    entry = register_asset(
        asset,
        path,
        data=f"{len(w)} full-network renders of random styles ({args.renders.name}: ffhq-renders --seed 0)",
        licence=LICENCE,
        command=command_line(),
        extra={
            "agreement_psnr_db": round(final["psnr_mean"], 2),
            "agreement_lpips": round(final.get("lpips_mean", 0), 4),
        },
    )
    print(
        f"wrote {path} ({entry['bytes']} bytes): agreement on {final['n']} test styles "
        f"PSNR {final['psnr_mean']:.2f} ± {final['psnr_std']:.2f} dB, LPIPS {final.get('lpips_mean', float('nan')):.4f}"
    )


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``mobilestylegan-weights`` and ``ffhq-renders`` to the training CLI."""
    parser = commands.add_parser(
        "mobilestylegan-weights", help="convert MobileStyleGAN (random-face wheel) to an asset"
    )
    parser.add_argument("--wheel", type=Path, required=True, help="random_face-2021.7.21.1-py3-none-any.whl")
    parser.set_defaults(run=convert_weights)

    parser = commands.add_parser("ffhq-renders", help="64²/128² downsamples of full-network renders of random styles")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--count", type=int, default=8000)
    parser.add_argument("--chunk", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--psi-min", type=float, default=0.5, help="truncation ψ drawn from U(psi-min, psi-max)")
    parser.add_argument("--psi-max", type=float, default=1.2)
    parser.set_defaults(run=make_renders)

    parser = commands.add_parser("ffhq-fast", help="distil the fast FFHQ model (student block + head) on renders")
    parser.add_argument("--renders", type=Path, required=True, help="ffhq-renders output used for fitting")
    parser.add_argument("--test", type=Path, required=True, help="ffhq-renders output of other styles (agreement)")
    parser.add_argument("--blocks", type=int, default=2, help="teacher blocks kept exactly")
    parser.add_argument("--student", type=int, default=256, help="channels of the student block (0: none)")
    parser.add_argument("--kernel", type=int, default=1, choices=(1, 3))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--lpips-weight", type=float, default=0.1)
    parser.add_argument("--limit", type=int, default=None, help="at most this many training styles")
    parser.add_argument("--test-limit", type=int, default=1000)
    parser.add_argument("--probe", type=int, default=200, help="test styles measured after each epoch")
    parser.add_argument("--init-styles", type=int, default=300, help="styles used to pick the student's channels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", type=Path, default=Path("runs/ffhq_fast"))
    parser.set_defaults(run=distil_fast)
