"""Choose the last stage's settings (layer, lr, pull, step split) on CelebA dev faces (training files).

    PYTHONPATH=. python scripts/sweep_last_stage.py --data /tmp/sets/celeba_dev --n 32 --threads 1

``/tmp/sets/celeba_dev`` holds CelebA 007001–007200 (training split). For each setting it prints the
final MSE + LPIPS of the whole pipeline at a 200-step budget, unmasked, and with the box
``MASK_BOX`` (rows 36–56, columns 14–50: the mouth and chin) hidden from the objective: "hidden box"
is MSE + LPIPS inside the box against the true face, i.e. how plausible the unseen part stays.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import torch

from engines.core.evaluation import DEFAULT_Z_LR, default_x_lr
from engines.core.losses import get_loss
from engines.io.images import list_images
from engines.models.faces.last_stage import LastStage, fidelity_steps
from engines.models.registry import load_mapping, load_model

MASK_BOX = (slice(36, 56), slice(14, 50))


def final_images(generator, mapping, targets, last: LastStage, steps: int, weight=None) -> torch.Tensor:
    options = dict(steps=steps, handoff=5, z_lr=DEFAULT_Z_LR["adam"], x_lr=default_x_lr("faces64", "adam"))
    run = fidelity_steps(generator, mapping, targets, last=last, weight=weight, keep_output=False, **options)
    *_, step = run
    return step.output


def evaluate(generator, mapping, targets, last: LastStage, steps: int) -> tuple[float, float]:
    """(final loss without a mask, the loss inside MASK_BOX when it was hidden) as means over ``targets``."""
    loss = get_loss("mse+lpips")
    mask = torch.ones(1, 1, *targets.shape[-2:])
    mask[..., MASK_BOX[0], MASK_BOX[1]] = 0
    free_images = final_images(generator, mapping, targets, last, steps)
    masked_images = final_images(generator, mapping, targets, last, steps, mask)
    with torch.no_grad():
        free = float(loss(free_images, targets, None).mean())
        hidden = float(loss(masked_images, targets, 1 - mask).mean())
    return free, hidden


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--stage", choices=["layer", "pull", "share"], default="layer")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator, mapping = load_model("faces64"), load_mapping("faces64")
    targets = torch.stack([generator.prepare_target(path)[0] for path in list_images(args.data)[: args.n]])
    if args.stage == "layer":
        grid = [LastStage(layer=layer, lr=lr, pull=0.01) for layer, lr in itertools.product(
            ("8x8", "16x16", "32x32"), (0.01, 0.05, 0.2))]  # fmt: skip
        grid.insert(0, LastStage(share=0.0))
    elif args.stage == "pull":
        grid = [LastStage(pull=pull) for pull in (0.0, 0.01, 0.1, 1.0)]
    else:
        grid = [LastStage(share=share) for share in (0.25, 0.5, 0.75, 0.9)]
    print(f"{'layer':>6} {'lr':>6} {'pull':>6} {'share':>6} | {'final loss':>10} | {'hidden box':>10}", flush=True)
    for last in grid:
        free, hidden = evaluate(generator, mapping, targets, last, args.steps)
        print(f"{last.layer:>6} {last.lr:>6} {last.pull:>6} {last.share:>6} | {free:>10.4f} | {hidden:>10.4f}", flush=True)


if __name__ == "__main__":
    main()
