"""``python -m engines.train directions --model digits|faces64``: latent directions for edits, as small assets.

digits: steerable walks (Jahanian et al. 2020) for ``shift_x``, ``shift_y`` and ``zoom``, fitted on random
samples of the class-conditional generator (random z, random class), G frozen (:mod:`engines.core.directions`).
faces64: the first ten GANSpace directions (PCA of the 8 × 8 feature map after the first up-sampling, over
random samples, regressed back to the latent). Writes ``assets/<model>_directions.safetensors`` (+ .json) and
its manifest entry (sha256, command).
"""

from __future__ import annotations

import argparse

import torch

from engines.core.directions import EDITS, SHIFT_PIXELS, ZOOM_FACTOR, fit_steerable_direction, ganspace_directions
from engines.io.checkpoint import ASSETS_DIR, register_asset, save_tensors
from engines.train.common import command_line

SOURCES = {
    "digits": (
        "random samples of assets/digits_generator (no images)",
        "as the digits generator (MNIST, CC BY-SA 3.0)",
    ),
    "faces64": (
        "random samples of assets/faces64_generator (no images)",
        "as the faces64 generator (CelebA, research only)",
    ),
}


def digits_directions(args: argparse.Namespace) -> tuple[torch.Tensor, dict]:
    from engines.models.registry import load_model

    generator = load_model("digits").eval().requires_grad_(False)
    table = generator.class_embedding(torch.arange(generator.num_classes)).detach()

    def sample(count: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, len(table), (count,), generator=rng)
        return torch.randn(count, generator.input_dim, generator=rng), table[labels]

    fits = {
        kind: fit_steerable_direction(
            generator.forward_conditional, sample, kind, dim=generator.input_dim, steps=args.steps, seed=args.seed + i
        )
        for i, kind in enumerate(EDITS)
    }
    meta = {
        "names": list(EDITS),
        "amount_range": [-1.0, 1.0],
        "units": f"α = 1: shift by {SHIFT_PIXELS:g} px right / down, zoom in × {ZOOM_FACTOR:g}",
        "method": "steerability (Jahanian et al. 2020): w = argmin E ‖G(z + αw, c) − edit(G(z, c), α)‖², α ~ U[-1, 1]",
        "fit": {
            kind: {"start_mse": fit.start_loss, "final_mse": sum(fit.losses[-20:]) / 20} for kind, fit in fits.items()
        },
    }
    return torch.stack([fits[kind].direction for kind in EDITS]), meta


def faces_directions(args: argparse.Namespace) -> tuple[torch.Tensor, dict]:
    from engines.models.registry import load_model

    generator = load_model("faces64").eval().requires_grad_(False)
    decoder = generator.decoder
    latents = torch.randn(args.samples, generator.input_dim, generator=torch.Generator().manual_seed(args.seed))

    def features(x: torch.Tensor) -> torch.Tensor:  # the 8 x 8 map after the first up-sampling
        return decoder.body[:2](decoder.base(x).view(-1, decoder.first, 4, 4))

    directions, share = ganspace_directions(features, latents, components=args.components)
    meta = {
        "names": [f"PC{k + 1}" for k in range(args.components)],
        "amount_range": [-3.0, 3.0],
        "units": "unit-length directions in the latent (z ~ N(0, I)): an amount is in standard deviations",
        "method": "GANSpace (Härkönen et al. 2020): PCA of the 8x8 feature map after the first up-sampling, "
        f"{args.samples} random samples, regressed back to the latent",
        "explained_variance": share.tolist(),
    }
    return directions, meta


def train_directions(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    directions, meta = digits_directions(args) if args.model == "digits" else faces_directions(args)
    name = f"{args.model}_directions"
    path = ASSETS_DIR / f"{name}.safetensors"
    save_tensors(path, {"directions": directions}, {"kind": "latent-directions", "model": args.model, **meta})
    data, licence = SOURCES[args.model]
    register_asset(name, path, data=data, licence=licence, command=command_line())
    print(f"saved {path}: {len(directions)} directions {meta['names']}")
    for key in ("fit", "explained_variance"):
        if key in meta:
            print(key, meta[key])


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``directions`` to the training CLI."""
    parser = commands.add_parser("directions", help="latent edit directions (steerable walks / GANSpace)")
    parser.add_argument("--model", required=True, choices=sorted(SOURCES))
    parser.add_argument("--steps", type=int, default=400, help="digits: Adam steps per walk")
    parser.add_argument("--samples", type=int, default=3000, help="faces64: random samples for the PCA")
    parser.add_argument("--components", type=int, default=10, help="faces64: directions kept")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=train_directions)
