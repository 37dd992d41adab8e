"""``python -m engines.train directions --model digits|faces64``: latent directions for edits, as small assets.

digits: steerable walks (Jahanian et al. 2020) for ``shift_x``, ``shift_y`` and ``zoom``, fitted on random
samples of the class-conditional generator (random z, random class), G frozen (:mod:`engines.core.directions`).
faces64: the first ten GANSpace directions (PCA of the 8 × 8 feature map after the first up-sampling, over
random samples, regressed back to the latent). ffhq64-w: GANSpace in W, as the paper does for StyleGAN (PCA of
w − w_avg over random z; each direction scaled to one standard deviation of w along it). Writes ``assets/<model>_directions.safetensors`` (+ .json) and
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
    "ffhq64-w": (
        "random samples of assets/ffhq_generator's mapping network (no images)",
        "as the FFHQ generator (NVIDIA StyleGAN2 FFHQ: non-commercial research)",
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


# What the first ten W components of the FFHQ generator do, named by looking at ±2.5σ renders of three faces
# (the average face and two at truncation 0.7) by the full network; unnamed ones mix several changes.
FFHQ_NAMES = {
    0: "PC1 · gender (+ feminine)", 1: "PC2 · head turn", 2: "PC3 · gender and age (+ young, long hair)",
    3: "PC4 · age (+ child)", 4: "PC5 · lighting, background (+ outdoor)", 7: "PC8 · smile (weak; + wider)",
    8: "PC9 · age (+ older, grey hair)",
}  # fmt: skip


def ffhq_directions(args: argparse.Namespace) -> tuple[torch.Tensor, dict]:
    """GANSpace in W: the principal components of w − w_avg over random z, each scaled to one standard
    deviation of w along it (an amount of 1 moves x = w − w_avg by one σ of that component)."""
    from engines.models.ffhq.weights import load_mobilestylegan

    mapping = load_mobilestylegan().mapping
    z = torch.randn(args.samples, 512, generator=torch.Generator().manual_seed(args.seed))
    with torch.no_grad():
        centred = (mapping(z) - mapping.w_avg).double()
    centred = centred - centred.mean(0, keepdim=True)
    _, singular, basis = torch.linalg.svd(centred, full_matrices=False)
    sigma = singular[: args.components] / (len(centred) - 1) ** 0.5
    directions = (basis[: args.components] * sigma[:, None]).float()
    share = singular.square() / singular.square().sum()
    meta = {
        "names": [FFHQ_NAMES.get(k, f"PC{k + 1}") for k in range(args.components)],
        "amount_range": [-3.0, 3.0],
        "units": "directions in x = w − w_avg, each one standard deviation of w along its component: an amount is in σ",
        "method": f"GANSpace in W (Härkönen et al. 2020): PCA of w − w_avg over {args.samples} random z",
        "explained_variance": share[: args.components].float().tolist(),
    }
    return directions, meta


def train_directions(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    make = {"digits": digits_directions, "faces64": faces_directions, "ffhq64-w": ffhq_directions}[args.model]
    directions, meta = make(args)
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
