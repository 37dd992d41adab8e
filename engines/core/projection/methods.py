"""The optimisers of stage 2 (and of the transform search's inner loop): Adam, L-BFGS, CMA, BasinCMA."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from engines.core.cma_search import BatchedCMA
from engines.core.projection.config import ProjectionConfig
from engines.core.projection.results import _Members, _Progress
from engines.core.projection_loss import ProjectionLoss
from engines.core.transforms import invert_transform


class _Problem:
    """Renders z (and c) through Θ and G and counts forward passes per target."""

    def __init__(
        self,
        generator: nn.Module,
        mapping: nn.Module | None,
        loss: ProjectionLoss,
        batch: int,
        config: ProjectionConfig,
    ):
        self.generator, self.mapping, self.loss, self.batch, self.config = generator, mapping, loss, batch, config
        self.passes = 0
        self.frame: Tensor | None = None  # φ* ``B x 5`` in stage 2: scores are taken in the target's frame

    def score(self, output: Tensor, target: Tensor, weight: Tensor) -> Tensor:
        """``N`` losses of generations ``N x C x H x W`` (generator frame). With ``frame`` set, ``target`` and
        ``weight`` are the untouched target's and the generations are first mapped back by T_φ*⁻¹: the
        frame of the final L1 (no second resampling of the target, no pixels hidden outside the frame)."""
        if self.frame is not None:
            output = invert_transform(output, self.frame.repeat_interleave(len(output) // self.batch, 0))
        return self.loss(output, target, weight)

    @property
    def evaluations(self) -> int:
        return self.passes // self.batch

    def render(self, z: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        """``N x Dz`` (and ``N x E``) -> x ``N x Dx`` and images ``N x C x H x W``."""
        x = self.mapping(z) if self.mapping is not None else z
        self.passes += len(z)
        output = self.generator.forward_conditional(x, c) if c is not None else self.generator(x)
        return x, output

    def truncate(self, z: Tensor) -> Tensor:
        limit = self.config.truncation
        return z if limit is None else z.clamp(-limit, limit)


def _adam(
    problem: _Problem, start: _Members, target: Tensor, weight: Tensor, steps: int, stage: str
) -> Iterator[_Progress]:
    """``steps`` Adam steps from ``start`` (z at ``z_lr``, c at ``class_lr``); ``start`` keeps the best points."""
    config = problem.config
    z = start.z.clone().requires_grad_(True)
    groups = [{"params": [z], "lr": config.z_lr}]
    c = None if start.c is None else start.c.clone().requires_grad_(config.optimise_class)
    if c is not None and config.optimise_class:
        groups.append({"params": [c], "lr": config.class_lr})
    solver = torch.optim.Adam(groups)
    for _ in range(steps):
        solver.zero_grad(set_to_none=True)
        _, output = problem.render(z, c)
        losses = problem.score(output, target, weight)
        start.update(losses, z, c, output)
        losses.sum().backward()
        solver.step()
        with torch.no_grad():
            z.copy_(problem.truncate(z))
        yield _Progress(stage, losses.detach(), output.detach(), start)


def _lbfgs(problem: _Problem, start: _Members, target: Tensor, weight: Tensor, limit: int) -> Iterator[_Progress]:
    """L-BFGS (strong Wolfe) on z and c until ``limit`` forward passes per target are spent."""
    z = start.z.clone().requires_grad_(True)
    c = None if start.c is None else start.c.clone().requires_grad_(problem.config.optimise_class)
    params = [z] + ([c] if c is not None and problem.config.optimise_class else [])
    solver = torch.optim.LBFGS(
        params, lr=problem.config.lbfgs_lr, max_iter=1, history_size=20, line_search_fn="strong_wolfe"
    )
    seen: list[tuple[Tensor, Tensor]] = []

    def closure() -> Tensor:
        if problem.evaluations >= limit:  # a line search may ask for more passes than the budget has left
            raise _BudgetSpent
        solver.zero_grad(set_to_none=True)
        _, output = problem.render(problem.truncate(z), c)
        losses = problem.score(output, target, weight)
        start.update(losses, problem.truncate(z), c, output)
        seen.append((losses.detach(), output.detach()))
        total = losses.sum()
        total.backward()
        return total

    while problem.evaluations < limit:
        seen.clear()
        try:
            solver.step(closure)
        except _BudgetSpent:
            if not seen:
                return
        yield _Progress("search", *seen[-1], start)


class _BudgetSpent(Exception):
    """Internal: L-BFGS's line search reached the budget mid-step."""


def _cma(
    problem: _Problem,
    search: BatchedCMA,
    c: Tensor | None,
    target: Tensor,
    weight: Tensor,
    generations: int,
    best: _Members,
) -> Iterator[_Progress]:
    """Plain CMA-ES over z (c fixed); ``best`` keeps each target's K best points ever evaluated."""
    batch = problem.batch
    keep = len(best.loss) // batch
    for _ in range(generations):
        z = problem.truncate(search.ask().flatten(0, 1))
        with torch.no_grad():
            _, output = problem.render(z, c)
            losses = problem.score(output, target, weight)
        search.tell(losses.view(batch, -1))
        found = _Members(z=z, c=c, loss=losses, output=output)
        merged = _Members.join(best, found, batch).top(batch, keep)
        best.z, best.c, best.loss, best.output = merged.z, merged.c, merged.loss, merged.output
        yield _Progress("search", losses, output, best)


def _basin_cma(
    problem: _Problem,
    search: BatchedCMA,
    c: Tensor | None,
    target: Tensor,
    weight: Tensor,
    generations: int,
    inner_steps: int,
    best: _Members,
) -> Iterator[_Progress]:
    """BasinCMA: each sample takes ``inner_steps`` Adam steps; CMA is told the post-Adam loss at the
    pre-Adam point. ``best`` keeps each target's K best post-Adam points; c starts from the best c."""
    batch = problem.batch
    keep = len(best.loss) // batch
    for _ in range(generations):
        z = problem.truncate(search.ask().flatten(0, 1))
        start_c = c
        if c is not None and best.c is not None and bool((best.loss < 1e30).any()):
            start_c = best.per_target(batch)[2].repeat_interleave(keep, 0)
        refined = _Members.start(z, start_c)
        for _progress in _adam(problem, refined, target, weight, inner_steps, "search"):
            pass
        search.tell(refined.loss.view(batch, -1))
        merged = _Members.join(best, refined, batch).top(batch, keep)
        best.z, best.c, best.loss, best.output = merged.z, merged.c, merged.loss, merged.output
        yield _Progress("search", refined.loss, refined.output, best)


def _drain(steps: Iterator) -> None:
    for _step in steps:
        pass


def _repeat(value: Tensor | None, times: int) -> Tensor | None:
    return None if value is None else value.repeat_interleave(times, 0)


def _seeded_normal(rows: int, dim: int, seed: int, device: torch.device) -> Tensor:
    return torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed)).to(device)


def _run_method(
    problem: _Problem, target: Tensor, weight: Tensor, c0: Tensor | None, z_start: Tensor | None, plan: dict, seed: int
) -> Iterator[_Progress]:
    """Stage 2: the chosen method on ``target`` (the untouched one, scored through ``problem.frame`` when a
    transform was searched); returns the final ``B*K`` members."""
    config, batch, members = problem.config, problem.batch, problem.config.population
    z_dim = problem.mapping.z_dim if problem.mapping is not None else problem.generator.input_dim
    target_rep, weight_rep, c_rep = _repeat(target, members), _repeat(weight, members), _repeat(c0, members)
    if config.method in ("adam", "lbfgs"):
        z = _seeded_normal(batch * members, z_dim, seed + 1, target.device)
        if z_start is not None:
            z.view(batch, members, -1)[:, 0] = z_start
        start = _Members.start(problem.truncate(z), c_rep)
        if config.method == "adam":
            yield from _adam(problem, start, target_rep, weight_rep, plan["adam_steps"], "search")
        else:
            limit = problem.evaluations + plan["adam_steps"] * members
            yield from _lbfgs(problem, start, target_rep, weight_rep, limit)
        return start
    search = BatchedCMA(
        torch.zeros(batch, z_dim, device=target.device), sigma=config.sigma, population=members, seed=seed
    )
    if z_start is not None:  # the transform search's best z joins the first population
        search.inject(z_start)
    best = _Members.start(torch.zeros(batch * members, z_dim, device=target.device), c_rep)
    if config.method == "basincma":
        yield from _basin_cma(
            problem, search, c_rep, target_rep, weight_rep, plan["generations"], plan["inner_steps"], best
        )
    else:
        yield from _cma(problem, search, c_rep, target_rep, weight_rep, plan["generations"], best)
    if config.method == "cma" or plan["adam_steps"] == 0:
        return best
    count = plan["final_members"]  # ``best`` is sorted: its first ``count`` members per target are the best
    refined = _Members.start(best.slice(batch, 0, count).z, best.slice(batch, 0, count).c)
    yield from _adam(problem, refined, _repeat(target, count), _repeat(weight, count), plan["adam_steps"], "final")
    return _Members.join(refined, best.slice(batch, count, members), batch)
