"""``python -m engines.bench landscape --model faces64 --data DIR --n 20 --grid 25 --seed 0 --json OUT.json``.

For the first ``n`` files of DIR (sorted by name), collects ``steps`` optimiser steps per target in
X-space and in Z-space (the paper's §4.5: one PCA plane per space from all targets' latents),
then computes each target's X and Z surfaces (interleaved, so both see the same machine load)
and prints per target and in total: seconds per surface, roughness and local minima (see
:class:`engines.landscape.Smoothness`) and the share of targets whose Z surface is smoother
(lower roughness) than its X surface.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from engines.landscape import LandscapeConfig, Plane, Surface, Trajectories, collect, compute_surface, principal_plane


def bench_paths(folder: Path, n: int, output_kind: str) -> list[Path]:
    """The first ``n`` target files of ``folder`` in sorted filename order."""
    from engines.images import list_images

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
    plane = principal_plane(trajectories.latents.flatten(0, 1))
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
    return f"{surface.seconds:5.2f} s  roughness {score.roughness:.4f}  minima {score.local_minima:2d}"


def run_landscape_bench(args: argparse.Namespace) -> dict:
    """Run the benchmark described in the module docstring; returns the JSON-able result."""
    from engines.models import load_mapping, load_model

    torch.manual_seed(args.seed)
    forward, mapping = load_model(args.model), load_mapping(args.model)
    paths = bench_paths(args.data, args.n, forward.output_kind)
    targets = torch.stack([forward.prepare_target(path)[0] for path in paths])
    radius = args.radius if args.radius is not None else LandscapeConfig().radius
    config = LandscapeConfig(steps=args.steps, grid=args.grid, radius=radius, seed=args.seed)
    x_run = collect_plane(forward, targets, mapping=None, config=config)
    z_run = collect_plane(forward, targets, mapping=mapping, config=config)
    print(
        f"{args.model}: {len(paths)} targets from {args.data}, {config.steps} steps of {config.optimizer} "
        f"(lr {config.lr}, loss {config.loss}), {config.grid}x{config.grid} grid, radius {radius} σ1, "
        f"{torch.get_num_threads()} threads"
    )
    for name, (_, plane, seconds) in (("X", x_run), ("Z", z_run)):
        print(
            f"{name}: collected in {seconds:.2f} s; σ1 {plane.spread:.4g}; PC1+PC2 explain "
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
    """Print the totals and build the JSON result."""
    x_rough = [s.smoothness.roughness for s in x_surfaces]
    z_rough = [s.smoothness.roughness for s in z_surfaces]
    share = sum(z < x for x, z in zip(x_rough, z_rough)) / len(paths)
    result = {
        "model": args.model,
        "n": len(paths),
        "targets": [path.name for path in paths],
        "config": config.to_dict(),
        "threads": torch.get_num_threads(),
        "x_seconds_per_surface": statistics.mean(s.seconds for s in x_surfaces),
        "z_seconds_per_surface": statistics.mean(s.seconds for s in z_surfaces),
        "x_max_seconds_per_surface": max(s.seconds for s in x_surfaces),
        "z_max_seconds_per_surface": max(s.seconds for s in z_surfaces),
        "x_collect_seconds": x_collect,
        "z_collect_seconds": z_collect,
        "x_smoothness": x_rough,
        "z_smoothness": z_rough,
        "x_local_minima": [s.smoothness.local_minima for s in x_surfaces],
        "z_local_minima": [s.smoothness.local_minima for s in z_surfaces],
        "x_radius": x_surfaces[0].radius,
        "z_radius": z_surfaces[0].radius,
        "z_smoother_share": share,
    }
    print(
        f"total: seconds per surface X {result['x_seconds_per_surface']:.2f} (max {result['x_max_seconds_per_surface']:.2f}), "
        f"Z {result['z_seconds_per_surface']:.2f} (max {result['z_max_seconds_per_surface']:.2f})"
    )
    print(
        f"total: median roughness X {statistics.median(x_rough):.4f}, Z {statistics.median(z_rough):.4f}; "
        f"mean local minima X {statistics.mean(result['x_local_minima']):.2f}, Z {statistics.mean(result['z_local_minima']):.2f}"
    )
    print(f"total: Z surface smoother than X for {share:.0%} of targets ({round(share * len(paths))}/{len(paths)})")
    return result
