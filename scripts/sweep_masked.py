"""Sweep of optimiser rules for masked targets, on TRAINING data only (issue 26): what keeps X and Z→X
good on the hidden part. Prints one line per arm: the hidden error at the last step (pose: MSE over the
hidden joints' axis-angle; faces: best-of-K and mean pixel MSE on the hidden pixels, and the hidden spread).

    python scripts/sweep_masked.py pose --data ../shared/data/cmu_mocap/train --n 64 --mask lower
    python scripts/sweep_masked.py faces --data DIR_OF_TRAINING_FACES --n 8 --k 4 --mask mouth

Arms: X and Z→X (the model's hand-off) with a pull towards F's input prior of weight λ (``gauss``/``shell``,
see engines.core.masked.prior_penalty), Z→X with later hand-offs, and plain Z for reference.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from engines.core.evaluation import inversion_defaults, run_space
from engines.core.masked import hidden_mse, hidden_spread, prior_penalty


def arms(handoff: int, steps: int, weights: list[float], kinds: list[str]) -> dict[str, dict]:
    result = {"Z": dict(space="z")}
    for kind in kinds:
        for weight in weights:
            result[f"X {kind} {weight:g}"] = dict(space="x", weight=weight, kind=kind)
            result[f"Z→X@{handoff} {kind} {weight:g}"] = dict(space="zx", handoff=handoff, weight=weight, kind=kind)
    for later in (50, 100, steps + 1):
        result[f"Z→X@{later} gauss 0"] = dict(space="zx", handoff=later, weight=0.0, kind="gauss")
    return result


def run_arm(forward, mapping, targets, weight_mask, arm: dict, *, defaults, loss: str, steps: int, k: int):
    pull = prior_penalty(arm.get("weight", 0.0), arm.get("kind", "gauss"))
    options = dict(optimizer="adam", loss=loss, weight=weight_mask, steps=steps, num_hypotheses=k)
    options.update(z_init="random" if k > 1 else "zeros", seed=0)
    if arm["space"] == "x":
        run = run_space(forward, targets, mapping=None, lr=defaults.x_lr, penalty=pull, **options)
    elif arm["space"] == "z":
        run = run_space(forward, targets, mapping=mapping, lr=defaults.z_lr, **options)
    else:
        run = run_space(forward, targets, mapping=mapping, lr=defaults.z_lr, handoff=arm["handoff"],
                        handoff_lr=defaults.handoff_lr, handoff_penalty=pull, **options)  # fmt: skip
    errors = hidden_mse(run.last.output, targets, weight_mask, k)  # B x K
    figures = {"visible_loss": run.losses[-1], "hidden_best": float(errors.min(1).values.mean())}
    figures["hidden_mean"] = float(errors.mean())
    if k > 1:
        figures["hidden_spread"] = float(hidden_spread(run.last.output, weight_mask, k).mean())
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("domain", choices=["pose", "faces"])
    parser.add_argument("--data", required=True)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--mask", required=True)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--weights", default="0,0.0001,0.001,0.01")
    parser.add_argument("--kinds", default="gauss")
    parser.add_argument("--only", default="", help="comma-separated arm names (default: all)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    from engines.models.registry import load_mapping, load_model

    model = "pose32" if args.domain == "pose" else "faces64"
    forward, mapping = load_model(model), load_mapping(model)
    defaults = inversion_defaults(model, "adam")
    if args.domain == "pose":
        from engines.models.pose.data import evenly_spaced_poses
        from engines.models.pose.skeleton import MASKS, joint_weight, load_skeleton

        targets = evenly_spaced_poses(args.data, forward.skeleton or load_skeleton(), args.n)
        mask, loss = joint_weight(MASKS[args.mask]), "mse"
    else:
        from engines.core.losses import resolve_loss_name
        from engines.io.images import list_images
        from engines.io.masks import preset_known

        paths = list_images(args.data)[: args.n]
        targets = torch.stack([forward.prepare_target(path)[0] for path in paths])
        mask, loss = preset_known(args.mask, targets.shape[-1])[None, None], resolve_loss_name("mse+lpips")
    weights = [float(value) for value in args.weights.split(",")]
    chosen = arms(defaults.handoff, args.steps, weights, args.kinds.split(","))
    if args.only:
        chosen = {name: arm for name, arm in chosen.items() if name in args.only.split(",")}
    print(f"{model} {args.domain} n={len(targets)} K={args.k} mask {args.mask} {args.steps} steps, loss {loss}, data {args.data}")  # fmt: skip
    results = {}
    for name, arm in chosen.items():
        started = time.perf_counter()
        results[name] = run_arm(forward, mapping, targets, mask, arm, defaults=defaults, loss=loss, steps=args.steps, k=args.k)  # fmt: skip
        figures = "  ".join(f"{key} {value:.6f}" for key, value in results[name].items())
        print(f"{name:<24} {figures}  ({time.perf_counter() - started:.0f} s)", flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"args": vars(args), "results": results}, handle, indent=1)


if __name__ == "__main__":
    main()
