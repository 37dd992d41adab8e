"""``python -m engines.bench landscape --model faces64 --data DIR --n 20 --grid 25 --seed 0 --json OUT.json``.

For the first ``n`` files of DIR (sorted by name), collects ``steps`` optimiser steps per target in
X-space and in Z-space (the paper's §4.5: one PCA plane per space from all targets' latents),
then computes each target's X and Z surfaces (interleaved, so both see the same machine load)
and prints per target and in total: seconds per surface, roughness and local minima (see
:class:`engines.core.landscape.Smoothness`) and the share of targets whose Z surface is smoother
(lower roughness) than its X surface.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from engines.bench.common import device_of
from engines.core.device import add_device_argument
from engines.core.landscape import (
    LandscapeConfig,
    Plane,
    Surface,
    Trajectories,
    collect,
    compute_surface,
    principal_plane,
)


def bench_paths(folder: Path, n: int, output_kind: str) -> list[Path]:
    """The first ``n`` target files of ``folder`` in sorted filename order."""
    from engines.io.images import list_images

    folder = Path(folder)
    if output_kind == "image":
        paths = list_images(folder)
    else:
        paths = sorted(path for path in folder.iterdir() if path.is_file()) if folder.is_dir() else []
    if not paths:
        raise ValueError(f"no targets found in {folder}")
    return paths[:n]


def collect_plane(forward, targets, *, mapping, config: LandscapeConfig) -> tuple[Trajectories, Plane, float]:
    started = time.perf_counter()
    trajectories = collect(forward, targets, mapping=mapping, config=config)
    plane = principal_plane(trajectories.latents)
    return trajectories, plane, time.perf_counter() - started


def surface_of(forward, targets, index: int, trajectories: Trajectories, plane: Plane, *, mapping, config) -> Surface:
    return compute_surface(
        forward,
        targets[index : index + 1],
        trajectories.latents[index],
        trajectories.losses[index],
        plane,
        mapping=mapping,
        config=config,
    )


def describe(surface: Surface) -> str:
    score = surface.smoothness
    return (
        f"{surface.seconds:5.2f} s  roughness {score.roughness:6.3f}  |Δ| {score.laplacian:6.3f}  "
        f"minima {score.local_minima:2d}  loss@T {float(surface.trajectory_losses[-1]):.4f}"
    )


def share_lower(z_values: list[float], x_values: list[float]) -> float:
    """Share of targets whose Z figure is strictly lower than its X figure (NaN never counts)."""
    return sum(z < x for x, z in zip(x_values, z_values)) / len(x_values)


def run_landscape_bench(args: argparse.Namespace) -> dict:
    """Run the benchmark described in the module docstring; returns the JSON-able result."""
    from engines.models.registry import load_mapping, load_model

    torch.manual_seed(args.seed)
    device = device_of(args)
    forward, mapping = load_model(args.model, device), load_mapping(args.model, device)
    paths = bench_paths(args.data, args.n, forward.output_kind)
    targets = torch.stack([forward.prepare_target(path)[0] for path in paths]).to(device)
    radius = args.radius if args.radius is not None else LandscapeConfig().radius
    config = LandscapeConfig(steps=args.steps, grid=args.grid, radius=radius, seed=args.seed)
    x_run = collect_plane(forward, targets, mapping=None, config=config)
    z_run = collect_plane(forward, targets, mapping=mapping, config=config)
    print(
        f"{args.model}: {len(paths)} targets from {args.data}, {config.steps} steps of {config.optimizer} "
        f"(lr {config.lr}, loss {config.loss}), {config.grid}x{config.grid} grid, radius {radius} × reach, "
        f"{torch.get_num_threads()} threads"
    )
    for name, (_, plane, seconds) in (("X", x_run), ("Z", z_run)):
        print(
            f"{name}: collected in {seconds:.2f} s; σ1 {plane.spread:.4g}, reach {plane.reach:.4g}; PC1+PC2 explain "
            f"{float(plane.explained.sum()):.1%} of the latents' variance"
        )
    surface_of(forward, targets, 0, *x_run[:2], mapping=None, config=LandscapeConfig(grid=3, steps=1))  # warm-up
    x_surfaces, z_surfaces = [], []
    for index, path in enumerate(paths):
        x_surfaces.append(surface_of(forward, targets, index, *x_run[:2], mapping=None, config=config))
        z_surfaces.append(surface_of(forward, targets, index, *z_run[:2], mapping=mapping, config=config))
        smoother = z_surfaces[-1].smoothness.roughness < x_surfaces[-1].smoothness.roughness
        print(
            f"{path.name}: X {describe(x_surfaces[-1])} | Z {describe(z_surfaces[-1])} | "
            f"Z smoother: {'yes' if smoother else 'no'}"
        )
    return summarise(args, config, paths, x_surfaces, z_surfaces, x_run[2], z_run[2])


def summarise(args, config, paths, x_surfaces, z_surfaces, x_collect: float, z_collect: float) -> dict:
    """Print the totals and build the JSON result (``*_smoothness`` lists hold the roughness figure)."""
    figures = {}
    for space, surfaces in (("x", x_surfaces), ("z", z_surfaces)):
        figures[space] = {
            "seconds_per_surface": statistics.mean(s.seconds for s in surfaces),
            "max_seconds_per_surface": max(s.seconds for s in surfaces),
            "collect_seconds": x_collect if space == "x" else z_collect,
            "smoothness": [s.smoothness.roughness for s in surfaces],
            "laplacian": [s.smoothness.laplacian for s in surfaces],
            "local_minima": [s.smoothness.local_minima for s in surfaces],
            "final_loss": [float(s.trajectory_losses[-1]) for s in surfaces],
            "radius": x_surfaces[0].radius if space == "x" else z_surfaces[0].radius,
        }
    x, z = figures["x"], figures["z"]
    result = {"model": args.model, "n": len(paths), "targets": [path.name for path in paths]}
    result |= {"config": config.to_dict(), "threads": torch.get_num_threads()}
    result |= {f"{space}_{key}": value for space in ("x", "z") for key, value in figures[space].items()}
    result["z_smoother_share"] = share_lower(z["smoothness"], x["smoothness"])
    result["z_lower_laplacian_share"] = share_lower(z["laplacian"], x["laplacian"])
    result["z_fewer_minima_share"] = share_lower(z["local_minima"], x["local_minima"])
    n = len(paths)
    print(
        f"total: seconds per surface X {x['seconds_per_surface']:.2f} (max {x['max_seconds_per_surface']:.2f}), "
        f"Z {z['seconds_per_surface']:.2f} (max {z['max_seconds_per_surface']:.2f})"
    )
    print(
        f"total: median roughness X {statistics.median(x['smoothness']):.3f}, Z {statistics.median(z['smoothness']):.3f}; "
        f"median |Δ| X {statistics.median(x['laplacian']):.3f}, Z {statistics.median(z['laplacian']):.3f}; "
        f"mean local minima X {statistics.mean(x['local_minima']):.2f}, Z {statistics.mean(z['local_minima']):.2f}"
    )
    print(
        f"total: Z surface smoother (lower roughness) than X for {result['z_smoother_share']:.0%} of targets "
        f"({round(result['z_smoother_share'] * n)}/{n}); lower |Δ| for {result['z_lower_laplacian_share']:.0%}; "
        f"fewer local minima for {result['z_fewer_minima_share']:.0%}"
    )
    return result


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``landscape`` to ``python -m engines.bench``."""
    landscape = commands.add_parser("landscape", help="PCA loss surfaces of X and Z")
    landscape.add_argument("--model", default="faces64")
    landscape.add_argument("--data", required=True, type=Path)
    landscape.add_argument("--n", type=int, default=20)
    landscape.add_argument("--grid", type=int, default=25)
    landscape.add_argument(
        "--radius", type=float, default=None, help="window half-width in units of the optimiser's reach (default 1.2)"
    )
    landscape.add_argument("--steps", type=int, default=20)
    landscape.add_argument("--seed", type=int, default=0)
    landscape.add_argument("--json", type=Path, default=None)
    add_device_argument(landscape)
    landscape.set_defaults(run=run_landscape_bench)
