"""Measuring X-space against Z-space: the shared core of the benchmarks."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engines.core.device import halve_on_out_of_memory
from engines.core.optim import Step, invert

# The paper's grid {0.5, 0.1, 0.05, 0.01}: every default lr (X, Z, hand-off) is its best on training data.
LR_GRID = (0.5, 0.1, 0.05, 0.01)


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
    handoff: int | None = None,
    handoff_lr: float | None = None,
    penalty: Callable[[Tensor], Tensor] | None = None,
    handoff_penalty: Callable[[Tensor], Tensor] | None = None,
) -> SpaceRun:
    """Invert ``targets`` (``B x output_shape``) in one batch; record the mean loss after every step.

    With ``num_hypotheses`` K > 1 (and ``z_init="random"``) each target gets K starts: the steps hold
    ``B*K`` items, item ``b*K + k`` being hypothesis ``k`` of target ``b``.

    ``handoff``/``handoff_lr`` (with ``mapping``) make it a Z→X run (see :func:`engines.core.optim.invert`);
    ``penalty``/``handoff_penalty`` are its regularisers (see :class:`engines.core.optim.Space`).
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
        if handoff is not None:
            options.update(handoff=handoff, handoff_lr=handoff_lr)
        options.update(penalty=penalty, handoff_penalty=handoff_penalty)
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
    forward: nn.Module, targets: Tensor, *, steps: int, grid=LR_GRID, **kwargs
) -> tuple[float, dict[float, float]]:
    """The X-space learning rate from ``grid`` with the lowest final mean loss (NaN counts as worst)."""
    finals = {}
    for lr in grid:
        final = run_space(forward, targets, mapping=None, lr=lr, steps=steps, **kwargs).losses[-1]
        finals[lr] = final if final == final else float("inf")
    return min(finals, key=finals.get), finals


def seeded(seed: int) -> None:
    torch.manual_seed(seed)


@dataclass(frozen=True, kw_only=True)
class InversionDefaults:
    """A model's inversion settings for one optimiser: X, Z and Z→X learning rates and the hand-off step.

    Saved beside Θ as ``assets/<model>_defaults.json`` by ``python -m engines.bench defaults --write``,
    which picks each lr from :data:`LR_GRID` and the hand-off from :data:`HANDOFF_GRID` on training data.
    """

    x_lr: float
    z_lr: float
    handoff: int
    handoff_lr: float
    chosen_on: str = "unswept fallback"
    # Masked targets (some of the target hidden): X, and Z→X after its hand-off, are pulled towards F's input
    # prior with this weight and kind (engines.core.masked.prior_penalty); 0 = no pull.
    masked_prior_weight: float = 0.0
    masked_prior_kind: str = "gauss"
    # Masked targets with the default hand-off: "same" hands off at ``handoff``; "never" keeps Z→X in Z-space
    # (no hand-off: X-space would fit the visible part at the cost of the hidden one).
    masked_handoff: str = "same"

    def __post_init__(self) -> None:
        if not (self.x_lr > 0 and self.z_lr > 0 and self.handoff_lr > 0) or self.handoff < 0:
            raise ValueError(f"inversion defaults need positive learning rates and a hand-off >= 0: {self}")
        if not self.masked_prior_weight >= 0:
            raise ValueError(f"the masked prior weight must be >= 0: {self}")
        if self.masked_handoff not in ("same", "never"):
            raise ValueError(f"masked_handoff must be 'same' or 'never': {self}")

    def handoff_for(self, *, masked: bool, steps: int) -> int:
        """The default hand-off step of a run of ``steps`` steps: ``steps`` (that is, none) for a masked
        target when the model's rule says "never", else :attr:`handoff`."""
        return steps if masked and self.masked_handoff == "never" else self.handoff


HANDOFF_GRID = (1, 2, 5, 10, 20)
# Fallbacks for a model without a defaults file (or an optimiser it was not swept for).
FALLBACK_X_LR = {"adam": 0.1, "sgd": 0.5, "lbfgs": 0.5}
FALLBACK_Z_LR = {"adam": 0.1, "sgd": 0.5, "lbfgs": 0.5}
FALLBACK_HANDOFF = 5


def defaults_path(model: str):
    from engines.io.checkpoint import ASSETS_DIR

    return ASSETS_DIR / f"{model}_defaults.json"


@functools.cache
def _read_defaults(model: str) -> dict:
    path = defaults_path(model)
    return json.loads(path.read_text()) if path.is_file() else {}


def inversion_defaults(model: str, optimizer: str = "adam") -> InversionDefaults:
    """The model's saved defaults for ``optimizer`` (see :class:`InversionDefaults`), else the fallbacks."""
    saved = _read_defaults(model).get("optimizers", {}).get(optimizer)
    if saved:
        fields = InversionDefaults.__dataclass_fields__
        return InversionDefaults(**{name: value for name, value in saved.items() if name in fields})
    x_lr = FALLBACK_X_LR.get(optimizer, 0.1)
    return InversionDefaults(
        x_lr=x_lr, z_lr=FALLBACK_Z_LR.get(optimizer, 0.1), handoff=FALLBACK_HANDOFF, handoff_lr=x_lr
    )


def default_x_lr(model: str, optimizer: str) -> float:
    return inversion_defaults(model, optimizer).x_lr
