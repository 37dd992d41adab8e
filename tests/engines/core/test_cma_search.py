"""Batched CMA-ES (one pycma strategy per target): it improves a quadratic, repeatably."""

from __future__ import annotations

import pytest
import torch

from engines.core.cma_search import BatchedCMA


def quadratic(points: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """``B x K x D`` points, ``B x D`` centres -> ``B x K`` squared distances."""
    return (points - centres[:, None]).square().sum(-1)


def run(seed: int, generations: int = 40) -> tuple[BatchedCMA, torch.Tensor, torch.Tensor]:
    centres = torch.tensor([[2.0, -1.0, 0.5, 1.0], [-3.0, 0.0, 1.0, -2.0]], dtype=torch.float64)
    search = BatchedCMA(torch.zeros(2, 4, dtype=torch.float64), sigma=1.0, population=8, seed=seed)
    first = None
    for _ in range(generations):
        losses = quadratic(search.ask(), centres)
        first = losses.min(1).values if first is None else first
        search.tell(losses)
    return search, first, centres


def test_cma_improves_a_quadratic_for_every_target():
    search, first, centres = run(seed=0)
    points, values = search.best
    assert points.shape == (2, 4) and values.shape == (2,)
    assert bool((values < first * 1e-2).all())
    assert torch.allclose(search.mean, centres, atol=0.1)


def test_cma_is_repeatable_with_a_seed():
    assert torch.equal(run(seed=3, generations=5)[0].mean, run(seed=3, generations=5)[0].mean)
    assert not torch.equal(run(seed=3, generations=5)[0].mean, run(seed=4, generations=5)[0].mean)


def test_tell_checks_its_input():
    search = BatchedCMA(torch.zeros(2, 3), sigma=0.5, population=4)
    with pytest.raises(RuntimeError, match="ask"):
        search.tell(torch.zeros(2, 4))
    search.ask()
    with pytest.raises(ValueError, match="losses must be"):
        search.tell(torch.zeros(2, 5))
    search.tell(torch.tensor([[1.0, float("nan"), 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]]))  # NaN counts as worst
    with pytest.raises(ValueError, match="population"):
        BatchedCMA(torch.zeros(1, 3), sigma=0.5, population=1)
