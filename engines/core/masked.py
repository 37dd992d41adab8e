"""Scoring what the optimiser was never shown: errors and spread on the hidden part of a masked target.

Shared by the benchmarks (``engines.bench pose`` / ``hypotheses``) and the app's verdicts. Targets are
``B x ...``; results hold ``B*K`` items, item ``b*K + k`` being hypothesis ``k`` of target ``b`` (as
:func:`engines.core.optim.invert_spaces` yields them); ``weight`` broadcasts to one target (0 = hidden).
"""

from __future__ import annotations

import torch
from torch import Tensor


def hidden_region(weight: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Bool ``shape`` (one item's output shape): True where ``weight`` (broadcastable, 0 = hidden) hides it."""
    hidden = weight == 0
    return hidden.expand(1, *shape)[0] if hidden.dim() == len(shape) + 1 else hidden.expand(shape)


def hidden_mse(outputs: Tensor, targets: Tensor, weight: Tensor, k: int = 1) -> Tensor:
    """``B x K``: each hypothesis' mean squared error on the hidden part against its (original) target.

    outputs: ``B*K x ...``; targets: ``B x ...``; weight: broadcastable to ``1 x ...`` (0 = hidden, one mask
    for every target). Raises ``ValueError`` when the weight hides nothing."""
    hidden = hidden_region(weight.to(outputs.device), tuple(outputs.shape[1:]))
    if not bool(hidden.any()):
        raise ValueError("the mask hides nothing: there is no hidden error to measure")
    items = outputs.reshape(-1, k, *outputs.shape[1:])  # B x K x ...
    squared = (items - targets.to(outputs.device)[:, None]).square()
    return squared[:, :, hidden].mean(dim=2)


def hidden_spread(outputs: Tensor, weight: Tensor, k: int) -> Tensor:
    """``B``: mean over the hidden part of the population standard deviation across each target's K hypotheses."""
    hidden = hidden_region(weight.to(outputs.device), tuple(outputs.shape[1:]))
    items = outputs.reshape(-1, k, *outputs.shape[1:])
    spread = items.std(dim=1, correction=0)  # B x ...
    if not bool(hidden.any()):
        return torch.zeros(len(spread))
    return spread[:, hidden].mean(dim=1)


PRIOR_KINDS = ("gauss", "shell")


def prior_penalty(weight: float, kind: str = "gauss"):
    """A per-item pull of F's input ``x`` (``N x D``) towards the standard normal prior it was trained on, or
    None for ``weight`` 0: ``gauss`` = ``weight * mean(x²)`` (the prior's log-density), ``shell`` =
    ``weight * (mean(x²) - 1)²`` (its typical set, the shell of radius √D). For masked targets: X-space, and
    Z→X after its hand-off, then keep the prior where the target says little."""
    if kind not in PRIOR_KINDS:
        raise ValueError(f"unknown prior penalty {kind!r}; choose from {PRIOR_KINDS}")
    if not weight >= 0:
        raise ValueError(f"the prior weight must be >= 0, got {weight!r}")
    if weight == 0:
        return None
    if kind == "gauss":
        return lambda x: weight * x.flatten(1).square().mean(1)
    return lambda x: weight * (x.flatten(1).square().mean(1) - 1).square()
