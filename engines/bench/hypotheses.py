"""``python -m engines.bench hypotheses``: K random starts per masked target, X-space vs Z-space, e.g.
    python -m engines.bench hypotheses --model faces64 --data DIR --n 50 --k 8 --mask mouth \
        --steps 200 --seed 0 --json OUT.json

Each image is hidden by a mask preset of the app (``--mask mouth|left|centre``); both spaces start K
hypotheses from random draws (one batch of ``n*K`` items) and optimise the loss on the known pixels.
Reported per space: the visible loss (mean over images of the best of the K final losses, known pixels
only) and the hidden diversity (mean over images, hidden pixels and colour channels of the standard
deviation across the K final images, in [-1, 1] pixel units). Good hypotheses are diverse where
nothing is known while still fitting what is. Since the hidden pixels' truth is the original image, each
space also reports its hidden error: per hypothesis the MSE over the hidden pixels (and colour channels)
against the original; ``*_hidden_error_best`` is the mean over images of the best of the K (does some
hypothesis match the truth?), ``*_hidden_error_mean`` the mean over images and hypotheses.
"""

from __future__ import annotations

import argparse

from torch import Tensor

from engines.bench.common import (
    add_common_arguments,
    add_handoff_arguments,
    add_mapping_argument,
    add_prior_arguments,
    device_figures,
    handoff_settings,
    image_bench_inputs,
    learning_rates,
    prior_settings,
)
from engines.core.evaluation import run_space
from engines.core.losses import resolve_loss_name
from engines.core.masked import hidden_mse, prior_penalty
from engines.io.masks import MASK_NAMES, preset_known


def hypothesis_figures(losses: Tensor, outputs: Tensor, known: Tensor, k: int) -> tuple[float, float]:
    """Visible loss and hidden diversity of one space's final step.

    losses: ``B*K`` final per-item losses; outputs: ``B*K x C x H x W``; known: ``H x W`` (1 = known).
    Returns (mean over targets of the best-of-K loss, mean per-pixel std across the K in the hidden region).
    """
    best = losses.view(-1, k).min(dim=1).values.mean()
    images = outputs.reshape(-1, k, *outputs.shape[1:])  # B x K x C x H x W
    spread = images.std(dim=1, correction=0)  # B x C x H x W, population std over the K hypotheses
    hidden = known.to(spread.device) == 0
    return float(best), float(spread[..., hidden].mean())


def hidden_errors(outputs: Tensor, targets: Tensor, known: Tensor, k: int) -> tuple[float, float]:
    """Best-of-K and mean hidden error of one space's final step.

    outputs: ``B*K x C x H x W``; targets: ``B x C x H x W`` (the originals); known: ``H x W`` (1 = known).
    Returns (mean over targets of the smallest hypothesis MSE on the hidden pixels, mean over all B*K of it).
    """
    per_hypothesis = hidden_mse(outputs, targets, known, k)  # B x K
    return float(per_hypothesis.min(dim=1).values.mean()), float(per_hypothesis.mean())


def run_hypotheses_bench(args: argparse.Namespace) -> dict:
    if args.k < 2:
        raise SystemExit("--k must be at least 2 (diversity needs several hypotheses)")
    device, forward, mapping, targets = image_bench_inputs(args)
    known = preset_known(args.mask, targets.shape[-1])
    loss = resolve_loss_name("mse+lpips" if args.loss == "auto" else args.loss)
    lrs = dict(zip("xz", learning_rates(args)))
    handoff, handoff_lr = handoff_settings(args, masked=True)  # every --mask hides something
    print(
        f"{args.model}: {len(targets)} images from {args.data}, mask {args.mask}, K={args.k} random starts, "
        f"{args.steps} steps of {args.optimizer}, loss {loss}, X lr {lrs['x']}, Z lr {lrs['z']}"
    )
    result = {"model": args.model, "optimizer": args.optimizer, "loss": loss, "n": len(targets), "k": args.k}
    result.update(mask=args.mask, steps=args.steps, seed=args.seed, x_lr=lrs["x"], z_lr=lrs["z"])
    result.update(mapping=str(args.mapping or "shipped"), handoff_step=handoff, handoff_lr=handoff_lr)
    common = dict(optimizer=args.optimizer, loss=loss, steps=args.steps, num_hypotheses=args.k, z_init="random")
    prior_weight, prior_kind = prior_settings(args)
    result.update(prior_weight=prior_weight, prior_kind=prior_kind)
    pull = prior_penalty(prior_weight, prior_kind)  # the masks all hide something: X and Z→X keep the prior
    arms = {
        "x": dict(mapping=None, lr=lrs["x"], penalty=pull),
        "z": dict(mapping=mapping, lr=lrs["z"]),
        "zx": dict(mapping=mapping, lr=lrs["z"], handoff=handoff, handoff_lr=handoff_lr, handoff_penalty=pull),
    }
    for space, arm in arms.items():
        run = run_space(forward, targets, weight=known[None, None], seed=args.seed, **arm, **common)
        visible, diversity = hypothesis_figures(run.last.losses, run.last.output, known, args.k)
        result[f"{space}_visible_loss"], result[f"{space}_hidden_diversity"] = visible, diversity
        best, mean = hidden_errors(run.last.output, targets, known, args.k)
        result[f"{space}_hidden_error_best"], result[f"{space}_hidden_error_mean"] = best, mean
    result.update(device_figures(device))
    print_hypothesis_checks(result)
    return result


def print_hypothesis_checks(result: dict) -> None:
    for space in ("x", "z", "zx"):
        if f"{space}_visible_loss" not in result:
            continue
        print(
            f"{'Z→X' if space == 'zx' else space.upper()}: visible loss (best of {result['k']}) {result[f'{space}_visible_loss']:.6f}, "
            f"hidden diversity {result[f'{space}_hidden_diversity']:.4f}, "
            f"hidden error best of {result['k']} {result[f'{space}_hidden_error_best']:.6f} "
            f"(mean {result[f'{space}_hidden_error_mean']:.6f})"
        )
    diverse = result["z_hidden_diversity"] >= result["x_hidden_diversity"]
    fits = result["z_visible_loss"] <= result["x_visible_loss"]
    print(
        f"Z {'at least as' if diverse else 'less'} diverse than X in the hidden region; "
        f"Z {'fits' if fits else 'does not fit'} the known pixels at least as well as X"
    )
    if "zx_hidden_error_best" in result:
        best = result["zx_hidden_error_best"] <= result["x_hidden_error_best"]
        spread = result["zx_hidden_diversity"] >= result["x_hidden_diversity"]
        print(
            f"Z→X best-of-{result['k']} hidden error {'at or below' if best else 'above'} X's; "
            f"Z→X hidden diversity {'at or above' if spread else 'below'} X's"
        )


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``hypotheses`` to ``python -m engines.bench``."""
    hypotheses = commands.add_parser("hypotheses", help="K random starts on masked images: fit and diversity")
    add_common_arguments(hypotheses, n=50)
    add_mapping_argument(hypotheses)
    add_handoff_arguments(hypotheses)
    add_prior_arguments(hypotheses)
    hypotheses.add_argument("--k", type=int, default=8, help="hypotheses (random starts) per image")
    hypotheses.add_argument("--mask", required=True, choices=list(MASK_NAMES), help="the app's mask presets")
    hypotheses.add_argument(
        "--loss", default="auto", choices=["auto", "mse", "l1", "mse+lpips"], help="auto = mse+lpips when available"
    )
    hypotheses.set_defaults(run=run_hypotheses_bench)
