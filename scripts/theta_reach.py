"""Issue 30's table for one Θ: X, Z and Z→X at steps 2, 20, 200 (and --steps), plus the reach diagnostic.

    PYTHONPATH=. python scripts/theta_reach.py --model faces64 --data CELEBA_TRAIN_SLICE --n 50 --steps 200 \
        [--mapping FILE] [--reach-n 8 --reach-steps 1000] [--json OUT]

All three spaces run in one batch with the model's saved defaults (lrs and hand-off, ``assets/<model>_defaults.json``)
and the model's benchmark loss (MSE + LPIPS for faces). The reach diagnostic, on the first ``--reach-n`` targets:
X runs ``--reach-steps`` steps to its optimum x*; z is then fitted so that Θ(z) is as close to x* as Θ allows
(Adam on ‖Θ(z) − x*‖², from Z's own end point, 1000 steps); the figures are the relative distance
‖Θ(z) − x*‖ / ‖x*‖ (how far X's optimum lies from Θ's range) and the condition number of Θ's Jacobian at that z
(σ_max / σ_min: how thin the map is there). Both means over the targets. Choose Θ on training faces only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from engines.bench.common import image_bench_inputs
from engines.core.evaluation import inversion_defaults, run_space
from engines.core.losses import resolve_loss_name


def space_table(forward, mapping, targets, *, steps: int, loss: str, model: str) -> dict:
    """Mean loss per step of X, Z and Z→X with the model's saved defaults."""
    chosen = inversion_defaults(model, "adam")
    arms = {
        "x_loss": dict(mapping=None, lr=chosen.x_lr),
        "z_loss": dict(mapping=mapping, lr=chosen.z_lr),
        "zx_loss": dict(mapping=mapping, lr=chosen.z_lr, handoff=chosen.handoff, handoff_lr=chosen.handoff_lr),
    }
    table = {name: run_space(forward, targets, loss=loss, steps=steps, **arm) for name, arm in arms.items()}
    return {name: run.losses for name, run in table.items()} | {"_runs": table}


def reach(mapping, x_optimum: torch.Tensor, z_start: torch.Tensor, *, steps: int = 1000) -> dict:
    """Relative distance from Θ's closest point to ``x_optimum`` (``B x D``) and Θ's Jacobian condition there."""
    z = z_start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=0.02)
    for _ in range(steps):
        error = (mapping(z) - x_optimum).square().sum()
        optimizer.zero_grad(set_to_none=True)
        error.backward()
        optimizer.step()
    z = z.detach()
    with torch.no_grad():
        distance = (mapping(z) - x_optimum).norm(dim=1) / x_optimum.norm(dim=1)
    conditions = []
    for item in z:
        jacobian = torch.autograd.functional.jacobian(lambda v: mapping(v[None])[0], item)
        singular = torch.linalg.svdvals(jacobian)
        conditions.append(float(singular.max() / singular.min().clamp_min(1e-12)))
    return {
        "relative_distance": float(distance.mean()),
        "relative_distance_each": [float(value) for value in distance],
        "jacobian_condition": sum(conditions) / len(conditions),
        "jacobian_condition_each": conditions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="faces64")
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--mapping", type=Path, default=None)
    parser.add_argument("--reach-n", type=int, default=8)
    parser.add_argument("--reach-steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.device = "cpu"
    torch.set_num_threads(args.threads)
    _, forward, mapping, targets = image_bench_inputs(args)
    loss = resolve_loss_name("mse+lpips")
    result = {"model": args.model, "mapping": str(args.mapping or "shipped"), "n": len(targets), "loss": loss}
    if args.n > 0 and args.steps > 0:
        table = space_table(forward, mapping, targets, steps=args.steps, loss=loss, model=args.model)
        table.pop("_runs")
        result |= {"steps": args.steps, **table}
        marks = [step for step in (2, 20, 200, args.steps) if step <= args.steps]
        for name in ("x_loss", "z_loss", "zx_loss"):
            print(
                f"{name:>8} (n={len(targets)}): "
                + "  ".join(f"@{s} {table[name][s]:.4f}" for s in dict.fromkeys(marks))
            )
    if args.reach_n > 0:
        subset = targets[: args.reach_n]
        long = space_table(forward, mapping, subset, steps=args.reach_steps, loss=loss, model=args.model)
        runs = long.pop("_runs")
        diagnostic = reach(mapping, runs["x_loss"].last.x.float(), runs["z_loss"].last.z.float())
        result["reach"] = {"n": len(subset), "steps": args.reach_steps, **long, **diagnostic}
        marks = [step for step in (2, 20, 200, args.reach_steps) if step <= args.reach_steps]
        for name in ("x_loss", "z_loss", "zx_loss"):
            print(
                f"{name:>8} (n={len(subset)}): " + "  ".join(f"@{s} {long[name][s]:.4f}" for s in dict.fromkeys(marks))
            )
        print(
            f"reach: relative distance {diagnostic['relative_distance']:.3f}, "
            f"Jacobian condition {diagnostic['jacobian_condition']:.0f}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
