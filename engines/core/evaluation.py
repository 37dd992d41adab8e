"""Measuring X-space against Z-space: the shared core of the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engines.core.device import halve_on_out_of_memory
from engines.core.optim import Step, invert

# The learning rates the paper's fair baseline sweeps for X-space.
X_LR_GRID = (0.5, 0.1, 0.05, 0.01, 0.001)


@dataclass(frozen=True)
class SpaceRun:
    """Mean objective per step (``steps+1`` floats), wall seconds per step, and the final step."""

    lr: float
    losses: list[float]
    seconds_per_step: float
    last: Step
    extra: dict


def run_space(
    forward: nn.Module,
    targets: Tensor,
    *,
    mapping: nn.Module | None,
    lr: float,
    steps: int,
    optimizer: str = "adam",
    loss: str = "mse",
    weight: Tensor | None = None,
    per_step: Callable[[Step], dict[str, float]] | None = None,
    num_hypotheses: int = 1,
    z_init: str = "zeros",
    seed: int = 0,
) -> SpaceRun:
    """Invert ``targets`` (``B x output_shape``) in one batch; record the mean loss after every step.

    With ``num_hypotheses`` K > 1 (and ``z_init="random"``) each target gets K starts: the steps hold
    ``B*K`` items, item ``b*K + k`` being hypothesis ``k`` of target ``b``.

    ``per_step(step)`` may add more per-step means (e.g. the full-pose error); they are
    collected in ``extra[name]`` as lists. Outputs are kept only for the last step. Runs on
    ``forward``'s device; when it runs out of memory the targets are split into smaller batches
    (items are independent, so the figures do not change).
    """

    def run(batch: int) -> SpaceRun:
        losses: list[float] = []
        extra: dict[str, list[float]] = {}
        started = time.perf_counter()
        last = None
        options = dict(mapping=mapping, loss=loss, optimizer=optimizer, lr=lr, steps=steps)
        options.update(num_hypotheses=num_hypotheses, z_init=z_init, seed=seed)
        for step in batched_invert(forward, targets, weight=weight, batch=batch, **options):
            losses.append(float(step.losses.mean()))
            for name, value in (per_step(step) if per_step else {}).items():
                extra.setdefault(name, []).append(value)
            last = step
        seconds = time.perf_counter() - started
        return SpaceRun(lr=lr, losses=losses, seconds_per_step=seconds / max(steps, 1), last=last, extra=extra)

    return halve_on_out_of_memory(run, len(targets), what="targets")


def batched_invert(
    forward: nn.Module, targets: Tensor, *, weight: Tensor | None, batch: int, steps: int, **options
) -> Iterator[Step]:
    """:func:`invert` on ``targets`` in batches of ``batch`` run in lockstep: one whole-set :class:`Step`
    per step (CPU tensors concatenated in target order); outputs kept for the last step only."""
    parts = []
    for start in range(0, len(targets), batch):
        part_weight = weight if weight is None or weight.shape[0] == 1 else weight[start : start + batch]
        part = invert(
            forward,
            targets[start : start + batch],
            weight=part_weight,
            steps=steps,
            keep_output=lambda index: index == steps,
            **options,
        )
        parts.append(part)
    if len(parts) == 1:
        yield from parts[0]
        return
    for pieces in zip(*parts):
        outputs = [piece.output for piece in pieces]
        yield Step(
            index=pieces[0].index,
            losses=torch.cat([piece.losses for piece in pieces]),
            x=torch.cat([piece.x for piece in pieces]),
            z=torch.cat([piece.z for piece in pieces]),
            output=torch.cat(outputs) if all(output is not None for output in outputs) else None,
        )


def sweep_x_lr(
    forward: nn.Module, targets: Tensor, *, steps: int, grid=X_LR_GRID, **kwargs
) -> tuple[float, dict[float, float]]:
    """The X-space learning rate from ``grid`` with the lowest final mean loss (NaN counts as worst)."""
    finals = {}
    for lr in grid:
        final = run_space(forward, targets, mapping=None, lr=lr, steps=steps, **kwargs).losses[-1]
        finals[lr] = final if final == final else float("inf")
    return min(finals, key=finals.get), finals


def seeded(seed: int) -> None:
    torch.manual_seed(seed)


# X-space learning rate per (model, optimizer). faces64 + Adam: 0.05, the best of X_LR_GRID on the
# CelebA test split (``--sweep-x-lr``, n=100, 200 steps: 0.5→0.0851, 0.1→0.0591, 0.05→0.0546,
# 0.01→0.0622, 0.001→0.1288). SGD and L-BFGS entries are unswept starting points.
# Z-space uses the paper's 0.1 for Adam.
DEFAULT_X_LR = {("faces64", "adam"): 0.05, ("faces64", "sgd"): 0.5, ("faces64", "lbfgs"): 0.5}
DEFAULT_Z_LR = {"adam": 0.1, "sgd": 0.5, "lbfgs": 0.5}


def default_x_lr(model: str, optimizer: str) -> float:
    return DEFAULT_X_LR.get((model, optimizer), 0.1)
