"""CMA-ES batched over targets: one pycma ``CMAEvolutionStrategy`` per target, ask/tell on tensors.

Nothing of CMA is written here; this only turns ``B`` strategies into ``B x K x D`` tensors.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

with warnings.catch_warnings():  # pycma warns that matplotlib is missing; plotting is never used here
    warnings.simplefilter("ignore")
    import cma


class BatchedCMA:
    """``B`` independent CMA-ES searches of dimension ``D`` with population ``K``.

    means: ``B x D`` starting means. sigma: initial step size (the same for every target).
    seed: strategy ``b`` uses pycma seed ``seed * 1000 + b + 1`` (pycma treats 0 as "random").
    """

    def __init__(self, means: Tensor, *, sigma: float, population: int, seed: int = 0):
        if means.dim() != 2 or means.shape[1] < 1:
            raise ValueError(f"means must be B x D with D >= 1, got {tuple(means.shape)}")
        if population < 2 or not sigma > 0:
            raise ValueError("CMA needs population >= 2 and sigma > 0")
        self.population = population
        self.dtype, self.device = means.dtype, means.device
        self.strategies = [
            cma.CMAEvolutionStrategy(
                mean.detach().cpu().double().numpy(),
                sigma,
                {"popsize": population, "seed": seed * 1000 + index + 1, "verbose": -9, "CMA_diagonal": False},
            )
            for index, mean in enumerate(means)
        ]
        self._asked: list[list[np.ndarray]] | None = None

    def ask(self) -> Tensor:
        """A new population ``B x K x D`` (one row of samples per target)."""
        self._asked = [strategy.ask() for strategy in self.strategies]
        array = np.stack([np.stack(samples) for samples in self._asked])
        return torch.from_numpy(array).to(dtype=self.dtype, device=self.device)

    def tell(self, losses: Tensor) -> None:
        """Report ``B x K`` losses of the population last asked (lower is better)."""
        if self._asked is None:
            raise RuntimeError("tell() needs a population from ask() first")
        values = losses.detach().double().cpu().nan_to_num(float("inf"), float("inf")).numpy()
        if values.shape != (len(self.strategies), self.population):
            raise ValueError(f"losses must be {(len(self.strategies), self.population)}, got {values.shape}")
        finite_max = np.where(np.isfinite(values), values, -np.inf).max(axis=1, keepdims=True)
        values = np.where(np.isfinite(values), values, np.maximum(finite_max, 0) * 10 + 1e6)
        for strategy, samples, row in zip(self.strategies, self._asked, values):
            strategy.tell(samples, row.tolist())
        self._asked = None

    def inject(self, points: Tensor) -> None:
        """Make ``B x D`` points (one per target) part of the next population (pycma's ``inject``)."""
        for strategy, point in zip(self.strategies, points.detach().cpu().double().numpy()):
            strategy.inject([point], force=True)

    @property
    def mean(self) -> Tensor:
        """``B x D`` current distribution means."""
        array = np.stack([strategy.mean for strategy in self.strategies])
        return torch.from_numpy(array).to(dtype=self.dtype, device=self.device)

    @property
    def sigma(self) -> Tensor:
        """``B`` current step sizes."""
        return torch.tensor([strategy.sigma for strategy in self.strategies], dtype=self.dtype)

    @property
    def best(self) -> tuple[Tensor, Tensor]:
        """The best point ever told to each strategy (``B x D``) and its loss (``B``)."""
        points = np.stack([strategy.result.xbest for strategy in self.strategies])
        values = np.array([strategy.result.fbest for strategy in self.strategies])
        return (
            torch.from_numpy(points).to(dtype=self.dtype, device=self.device),
            torch.from_numpy(values).to(self.dtype),
        )
