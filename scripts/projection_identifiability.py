"""φ error against the number of transform-search generations: digits rendered by G(z, c) for known z and
class, placed in the target's frame by a known φ (scale, shift, brightness in make_set's ranges), projected.

    PYTHONPATH=. python scripts/projection_identifiability.py --model digits --n 8 --fractions 0.05 0.2 0.4 0.6
    PYTHONPATH=. python scripts/projection_identifiability.py --model shapes --beta 0 --n 9

``shapes`` is the tiny class-conditional test generator of ``tests/engines/core/test_projection_identifiability.py``
(seconds on a CPU core); ``digits`` is the shipped digit GAN.

Prints, per transform_fraction: stage 1's generations, the mean |φ − φ*| of the scales, shifts and γ, the
class accuracy of the best member and its L1 in the target's frame (Adam after the search, budget 1800,
12 seeds; everything else at ProjectionConfig's defaults).
"""

from __future__ import annotations

import argparse

import torch

from engines.core.losses import l1_loss
from engines.core.projection import ProjectionConfig, budget_plan, project
from engines.core.transforms import invert_transform
from engines.models.registry import load_model


def known_targets(generator, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``count`` digits G(z, c) (z ~ N(0, I), classes 0..9 in turn) and the φ* that places them."""
    rng = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % generator.num_classes
    z = torch.randn(count, generator.input_dim, generator=rng)
    uniform = lambda low, high: low + (high - low) * torch.rand(count, generator=rng)  # noqa: E731
    scale = 1 / uniform(0.7, 1.2)  # the digit drawn 0.7–1.2× its size: the generator's frame covers 1/that
    shift = torch.stack([uniform(-0.25, 0.25), uniform(-0.25, 0.25)], 1)
    gamma = 1 / uniform(0.4, 0.85)  # dimmed to 40–85 % brightness
    phi = torch.cat([scale[:, None], scale[:, None], shift, gamma[:, None]], 1)
    with torch.no_grad():
        targets = invert_transform(generator.forward_conditional(z, generator.class_embedding(labels)), phi)
    return targets, labels, phi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="digits", choices=["digits", "shapes"])
    parser.add_argument("--beta", type=float, default=None, help="LPIPS weight (default: ProjectionConfig's)")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.2, 0.4, 0.6])
    parser.add_argument("--budget", type=int, default=1800)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.model == "shapes":
        from tests.engines.core.test_projection_identifiability import ShapesGenerator

        generator = ShapesGenerator()
    else:
        generator = load_model("digits", "cpu")
    extra = {} if args.beta is None else {"beta": args.beta}
    targets, labels, truth = known_targets(generator, args.n, args.seed)
    table = generator.class_embedding(torch.arange(generator.num_classes))
    print("fraction | generations | |Δ log s| | |Δ t| | |Δ log γ| | class acc | L1 best")
    for fraction in args.fractions:
        config = ProjectionConfig(
            method="adam",
            transform="spatial+color",
            budget=args.budget,
            population=12,
            transform_fraction=fraction,
            **extra,
        )
        for step in project(generator, targets, config=config, seed=args.seed):
            result = step.result
        phi = result.transform
        scale_error = (phi[:, :2].log() - truth[:, :2].log()).abs().mean()
        shift_error = (phi[:, 2:4] - truth[:, 2:4]).abs().mean()
        gamma_error = (phi[:, 4].log() - truth[:, 4].log()).abs().mean()
        classes = torch.cdist(result.best("class_embedding"), table).argmin(1)
        best = l1_loss(result.best("reprojected"), targets).mean()
        print(
            f"{fraction:8.2f} | {budget_plan(config)['transform_generations']:11d} | {scale_error:9.3f} | "
            f"{shift_error:5.3f} | {gamma_error:9.3f} | {int((classes == labels).sum()):4d}/{args.n:<4d} | {best:.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
