"""Landscape learning as a stream the caller drives: Algorithm 1 one round at a time, and a probe of any Θ.

:func:`learn_rounds` is a step-generator view of :class:`engines.core.trainer.MappingTrainer`: each
``next()`` runs one round (trajectories with Θ fixed, then Θ's updates) and yields a
:class:`LearnRound` with the round's figures and a CPU copy of the current Θ; the caller owns the
loop (it may stop, probe, save or show between rounds). A time budget counts the learning only.
Resuming is the trainer's: ``trainer.save(path)`` after any round, ``trainer.load(path)`` in a new
trainer, and :func:`learn_rounds` carries on from ``trainer.round`` bit-exactly. Under ``torchrun``
the budget is decided on the mean of every rank's clock, so all ranks stop at the same round.

:func:`probe_mapping` measures Θ against X on a fixed validation batch: the mean loss of X, Z and
Z→X at a few steps (2, 20, 200), the three spaces advanced together with one batch of F per step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from torch import Tensor, nn

from engines.core import distributed
from engines.core.optim import Space, invert_spaces
from engines.core.trainer import MappingTrainer

PROBE_STEPS = (2, 20, 200)
PROBE_SPACES = ("x", "z", "zx")


@dataclass(frozen=True)
class LearnRound:
    """One round of Algorithm 1 as the caller sees it.

    round: rounds done so far (1 after the first). trajectory_loss: mean loss at the trajectories'
    last step (Θ fixed, this round's targets); trajectory_loss_start: at their first (z0).
    update_loss: mean loss of Θ's updates. updates: Θ updates this round. seconds: this round's
    wall time; learning_seconds: all rounds of this run so far. mapping: Θ's weights after the
    round (detached CPU copies; ``load_state_dict`` them into a :class:`MappingNetwork`).
    """

    round: int
    trajectory_loss: float
    trajectory_loss_start: float
    update_loss: float
    updates: int
    seconds: float
    learning_seconds: float
    mapping: dict[str, Tensor] = field(repr=False)


def learn_rounds(
    trainer: MappingTrainer, *, seconds: float | None = None, rounds: int | None = None
) -> Iterator[LearnRound]:
    """Run rounds of ``trainer`` until ``seconds`` of learning have passed or ``rounds`` more are done.

    A round starts only while the learning clock is under ``seconds`` (so the last one may end past
    it by at most one round); ``None`` means no limit of that kind (give at least one). The clock
    counts only the rounds themselves: whatever the caller does between ``next()`` calls is outside it.
    """
    if seconds is None and rounds is None:
        raise ValueError("learn_rounds needs a time budget (seconds) or a number of rounds")
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"the time budget must be a positive number of seconds, got {seconds!r}")
    if rounds is not None and rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds!r}")
    config = trainer.config
    updates = config.steps if config.online else config.updates_per_round
    learned, done = 0.0, 0
    while (rounds is None or done < rounds) and (seconds is None or distributed.mean_over_ranks(learned) < seconds):
        started = time.perf_counter()
        stats = trainer.run_round()
        took = time.perf_counter() - started
        learned, done = learned + took, done + 1
        weights = {name: value.detach().cpu().clone() for name, value in trainer.mapping.state_dict().items()}
        yield LearnRound(
            round=stats.round,
            trajectory_loss=stats.trajectory_loss_end,
            trajectory_loss_start=stats.trajectory_loss_start,
            update_loss=stats.update_loss,
            updates=updates,
            seconds=took,
            learning_seconds=learned,
            mapping=weights,
        )


@dataclass(frozen=True, kw_only=True)
class ProbeSettings:
    """How :func:`probe_mapping` inverts: each space's learning rate, Z→X's hand-off, the loss and the steps."""

    x_lr: float
    z_lr: float
    handoff: int
    handoff_lr: float
    loss: str = "mse"
    optimizer: str = "adam"
    steps: tuple[int, ...] = PROBE_STEPS

    def __post_init__(self) -> None:
        if not (self.x_lr > 0 and self.z_lr > 0 and self.handoff_lr > 0) or self.handoff < 0:
            raise ValueError(f"probe settings need positive learning rates and a hand-off >= 0: {self}")
        if not self.steps or min(self.steps) < 0:
            raise ValueError(f"probe steps must be a non-empty list of steps >= 0, got {self.steps!r}")


@dataclass(frozen=True)
class Probe:
    """Mean validation losses per space (``"x"``, ``"z"``, ``"zx"``) and step, and outputs kept on request.

    losses[space][step]: mean over the batch. outputs[space][step]: ``B x output_shape`` CPU tensors
    for the steps asked for in ``keep``.
    """

    losses: dict[str, dict[int, float]]
    outputs: dict[str, dict[int, Tensor]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{"x_loss": {"2": …, "20": …}, "z_loss": {…}, "zx_loss": {…}}`` (the spaces probed)."""
        return {f"{space}_loss": {str(step): value for step, value in steps.items()} for space, steps in self.losses.items()}  # fmt: skip

    def merged(self, other: Probe) -> Probe:
        """This probe with ``other``'s spaces added (e.g. a cached X run and a fresh Z / Z→X one)."""
        return Probe({**self.losses, **other.losses}, {**self.outputs, **other.outputs})


def probe_mapping(
    forward: nn.Module,
    targets: Tensor,
    mapping: nn.Module | None,
    settings: ProbeSettings,
    *,
    weight: Tensor | None = None,
    spaces: Sequence[str] = PROBE_SPACES,
    keep: Sequence[int] = (),
) -> Probe:
    """Mean loss of ``spaces`` (from "x", "z", "zx") on ``targets`` (``B x output_shape``) at ``settings.steps``.

    All spaces start from z0 = 0 and advance together, one batch of F per step (as
    :func:`engines.core.optim.invert_spaces`). "z" and "zx" need ``mapping``; X does not depend on
    it, so a caller probing many Θ can run X once and :meth:`Probe.merged` it with the rest. The
    outputs at the steps in ``keep`` are returned too (for reconstructions). Θ is left as it was.
    """
    unknown = [space for space in spaces if space not in PROBE_SPACES]
    if unknown or not spaces:
        raise ValueError(f"probe spaces must be some of {PROBE_SPACES}, got {list(spaces)}")
    if mapping is None and any(space != "x" for space in spaces):
        raise ValueError("probing Z or Z→X needs a mapping")
    arms = {
        "x": lambda: Space(mapping=None, lr=settings.x_lr),
        "z": lambda: Space(mapping=mapping, lr=settings.z_lr),
        "zx": lambda: Space(
            mapping=mapping, lr=settings.z_lr, handoff=settings.handoff, handoff_lr=settings.handoff_lr
        ),
    }
    wanted, kept = set(settings.steps), set(keep)
    losses: dict[str, dict[int, float]] = {space: {} for space in spaces}
    outputs: dict[str, dict[int, Tensor]] = {space: {} for space in spaces} if kept else {}
    trainable = [parameter.requires_grad for parameter in mapping.parameters()] if mapping is not None else []
    if mapping is not None:
        mapping.requires_grad_(False)
    try:
        steps = invert_spaces(
            forward,
            targets,
            [arms[space]() for space in spaces],
            weight=weight,
            loss=settings.loss,
            optimizer=settings.optimizer,
            steps=max(max(settings.steps), max(kept, default=0)),
            keep_output=lambda index: index in kept,
        )
        for per_space in steps:
            for space, step in zip(spaces, per_space):
                if step.index in wanted:
                    losses[space][step.index] = float(step.losses.mean())
                if step.index in kept:
                    outputs[space][step.index] = step.output
    finally:
        for parameter, flag in zip(mapping.parameters() if mapping is not None else (), trainable):
            parameter.requires_grad_(flag)
    return Probe(losses, outputs)


def as_module(weights: dict[str, Tensor], like: nn.Module) -> nn.Module:
    """A frozen eval-mode copy of ``like`` holding ``weights`` (e.g. a :attr:`LearnRound.mapping`)."""
    import copy

    module = copy.deepcopy(like).cpu()
    module.load_state_dict(weights)
    return module.eval().requires_grad_(False)


__all__ = ["LearnRound", "Probe", "ProbeSettings", "as_module", "learn_rounds", "probe_mapping"]
