"""Choose the last stage's settings (layer, lr, pull, step split) on CelebA dev faces (training files).

    PYTHONPATH=. python scripts/sweep_last_stage.py --data /tmp/sets/celeba_dev --n 16 --stage layer
    PYTHONPATH=. python scripts/sweep_last_stage.py --data /tmp/sets/celeba_dev_warped --n 16 --align --stage pick
    PYTHONPATH=. python scripts/sweep_last_stage.py --data /tmp/sets/celeba_dev --n 16 --stage tune --layer L --lr LR
    PYTHONPATH=. python scripts/sweep_last_stage.py --data FACES --n 16 --stage prior --controls CATS DIGITS SCENES --n-control 8

prior (issue 27): does the last stage keep the generator's prior? Every setting's final MSE + LPIPS on
training faces against non-face controls (all aligned as the fidelity bench does; no face found: the
centre crop), and the ratio non-face / face (per control set and over all controls): a last stage that
copies any image has a ratio near 1.

``/tmp/sets/celeba_dev`` holds CelebA 007001–007200 (training split); ``celeba_dev_warped`` is
``python -m engines.bench.make_set faces-warped --out /tmp/sets/celeba_dev_warped --first 7001 --count 32 --seed 1``. One Z→X run (hand-off 5, the
default lrs) of the whole budget is shared by every setting: a setting with share s continues from its
step ``(1-s)·steps`` in the feature map for ``s·steps`` steps. Printed per setting: the final MSE +
LPIPS unmasked, and with ``MASK_BOX`` (rows 36–56, columns 14–50: mouth and chin) hidden from the
objective, "hidden box" = MSE + LPIPS inside the box against the true face (how plausible the unseen
part stays). The first row is Z→X alone for the whole budget.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from pathlib import Path

import torch

from engines.bench.fidelity import load_targets
from engines.core.evaluation import inversion_defaults
from engines.core.losses import get_loss
from engines.core.optim import invert
from engines.io.images import list_images
from engines.models.faces.last_stage import LastStage, last_stage_steps
from engines.models.registry import load_mapping, load_model

MASK_BOX = (slice(36, 56), slice(14, 50))


def z_to_x_latents(generator, mapping, targets, steps: int, weight=None) -> list[torch.Tensor]:
    """The Z→X run's ``x`` after every step (``steps + 1`` tensors ``B x latent_dim``)."""
    defaults = inversion_defaults("faces64", "adam")
    run = invert(generator, targets, mapping=mapping, lr=defaults.z_lr, handoff=defaults.handoff,
                 handoff_lr=defaults.handoff_lr, steps=steps, loss="mse+lpips", weight=weight,
                 keep_output=False)  # fmt: skip
    return [step.x for step in run]


def final_images(generator, targets, latents, last: LastStage, steps: int, weight=None) -> torch.Tensor:
    zx_steps, last_steps = last.split(steps)
    latent = latents[zx_steps]
    if not last_steps:
        with torch.no_grad():
            return generator(latent)
    run = last_stage_steps(generator, targets, latent, last=last, steps=last_steps, weight=weight,
                           keep_output=lambda index: index == last_steps)  # fmt: skip
    *_, step = run
    return step.output


PRIOR_GRID = [
    LastStage(layer=layer, lr=lr, pull=pull)
    for layer, lr in (("8x8", 0.05), ("16x16", 0.2))
    for pull in (0.01, 0.3, 3.0, 30.0)
]


def prior_sweep(args: argparse.Namespace, generator, mapping) -> None:
    """The prior stage: one Z→X run over faces and controls together, then every setting of ``--grid``."""
    folders = [args.data, *args.controls]
    parts = [load_targets(generator, list_images(folder)[: args.n if index == 0 else args.n_control], align=True)[0]
             for index, folder in enumerate(folders)]  # fmt: skip
    names = [Path(folder).name for folder in folders]
    targets = torch.cat(parts)
    bounds = torch.tensor([0, *itertools.accumulate(len(part) for part in parts)])
    loss = get_loss("mse+lpips")
    if args.cache and args.cache.exists():  # the Z→X run of the same sets and steps, from an earlier sweep
        latents = torch.load(args.cache, weights_only=True)
    else:
        latents = z_to_x_latents(generator, mapping, targets, args.steps)
        if args.cache:
            torch.save(latents, args.cache)
    print(" ".join(f"{name}={len(part)}" for name, part in zip(names, parts)), flush=True)
    header = " ".join(f"{name[:10]:>10}" for name in names)
    print(f"{'mode':>8} {'layer':>6} {'lr':>5} {'pull':>6} {'share':>5} | {header} | ratio all | ratio min", flush=True)
    grid = [LastStage(share=0.0), *PRIOR_GRID] if not args.grid else [LastStage(share=0.0), *args.grid]
    for last in grid:
        final = final_images(generator, targets, latents, last, args.steps)
        with torch.no_grad():
            each = loss(final, targets)
        means = [float(each[start:end].mean()) for start, end in zip(bounds[:-1], bounds[1:])]
        faces, controls = means[0], each[bounds[1] :]
        ratios = [mean / faces for mean in means[1:]]
        row = " ".join(f"{mean:>10.4f}" for mean in means)
        print(f"{last.mode:>8} {last.layer:>6} {last.lr:>5} {last.pull:>6} {last.share:>5} | {row} | "
              f"{float(controls.mean()) / faces:>9.2f} | {min(ratios):>9.2f}", flush=True)  # fmt: skip


def parse_setting(text: str) -> LastStage:
    """``LAYER:LR:PULL[:SHARE[:MODE]]``, e.g. ``8x8:0.05:3`` or ``4x4:0.05:0.01:0.5:channels``."""
    layer, lr, pull, *rest = text.split(":")
    share, mode = (float(rest[0]) if rest else 0.5), (rest[1] if len(rest) > 1 else "features")
    return LastStage(layer=layer, lr=float(lr), pull=float(pull), share=share, mode=mode)


def grid_of(stage: str, base: LastStage) -> list[LastStage]:
    if stage == "layer":
        layers_lrs = itertools.product(("8x8", "16x16", "32x32"), (0.01, 0.05, 0.2))
        return [LastStage(layer=layer, lr=lr, pull=0.01) for layer, lr in layers_lrs]
    if stage == "tune":  # the pull, then the step split, around ``base``
        pulls = [dataclasses.replace(base, pull=pull) for pull in (0.0, 0.01, 0.1, 1.0)]
        return pulls + [dataclasses.replace(base, share=share) for share in (0.25, 0.75)]
    if stage == "pick":
        return [LastStage(layer="8x8", lr=0.05), LastStage(layer="16x16", lr=0.2), LastStage(layer="16x16", lr=0.05)]
    raise ValueError(f"unknown stage {stage!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--stage", choices=["layer", "pick", "tune", "prior"], default="layer")
    parser.add_argument("--controls", nargs="*", default=[], help="prior: folders of non-face controls")
    parser.add_argument("--n-control", type=int, default=8, help="prior: images per control folder")
    parser.add_argument("--cache", type=Path, default=None, help="prior: file keeping the Z→X run between sweeps")
    parser.add_argument("--grid", nargs="*", type=parse_setting, default=None, help="prior: LAYER:LR:PULL[:SHARE] ...")
    parser.add_argument("--layer", default="8x8", help="tune: the layer to tune around")
    parser.add_argument("--lr", type=float, default=0.05, help="tune: the lr to tune around")
    parser.add_argument("--align", action="store_true", help="align the faces first (as the fidelity bench does)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator, mapping = load_model("faces64"), load_mapping("faces64")
    if args.stage == "prior":
        prior_sweep(args, generator, mapping)
        return
    targets, _aligned = load_targets(generator, list_images(args.data)[: args.n], align=args.align)
    mask = torch.ones(1, 1, *targets.shape[-2:])
    mask[..., MASK_BOX[0], MASK_BOX[1]] = 0
    loss = get_loss("mse+lpips")
    free_latents = z_to_x_latents(generator, mapping, targets, args.steps)
    masked_latents = z_to_x_latents(generator, mapping, targets, args.steps, mask)
    print(f"{'layer':>6} {'lr':>6} {'pull':>6} {'share':>6} | {'final loss':>10} | {'hidden box':>10}", flush=True)
    for last in [LastStage(share=0.0), *grid_of(args.stage, LastStage(layer=args.layer, lr=args.lr))]:
        free = final_images(generator, targets, free_latents, last, args.steps)
        masked = final_images(generator, targets, masked_latents, last, args.steps, mask)
        with torch.no_grad():
            free_loss, hidden = float(loss(free, targets).mean()), float(loss(masked, targets, 1 - mask).mean())
        row = f"{last.layer:>6} {last.lr:>6} {last.pull:>6} {last.share:>6} | {free_loss:>10.4f} | {hidden:>10.4f}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
