"""Stage 1 of the transform search: CMA over φ, each candidate scored after a short Adam run on its z."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from engines.core.cma_search import BatchedCMA
from engines.core.projection.config import SEARCH_LIMITS
from engines.core.projection.methods import _adam, _drain, _Problem, _repeat, _seeded_normal
from engines.core.projection.results import _Members, _Progress
from engines.core.transforms import (
    apply_transform,
    invert_transform,
    params_to_search,
    search_to_params,
    transform_mask,
)


def _clamp_search(u: Tensor, kind: str) -> Tensor:
    """Keep the transform search inside scales [0.25, 4] and shifts [-1, 1]."""
    limit_scale, limit_shift = SEARCH_LIMITS["log_scale"], SEARCH_LIMITS["shift"]
    u = u.clone()
    if kind in ("spatial", "spatial+color"):
        u[..., :2] = u[..., :2].clamp(-limit_scale, limit_scale)
        u[..., 2:4] = u[..., 2:4].clamp(-limit_shift, limit_shift)
    if kind in ("color", "spatial+color"):
        u[..., -1] = u[..., -1].clamp(-limit_scale, limit_scale)
    return u


def _search_transform(
    problem: _Problem, target: Tensor, weight: Tensor, phi0: Tensor, c0: Tensor | None, plan: dict, seed: int
) -> Iterator[_Progress]:
    """Stage 1: CMA over φ; each sample's z (and c) takes Adam steps on T_φ(target), and φ is scored by
    the loss of T_φ⁻¹(G(z)) against the untouched target. Returns (φ* ``B x 5``, z ``B x D``, c)."""
    config, batch, members = problem.config, problem.batch, problem.config.population
    kind = config.transform
    search = BatchedCMA(params_to_search(phi0, kind), sigma=config.transform_sigma, population=members, seed=seed + 7)
    search.inject(params_to_search(phi0, kind))  # φ0 itself is a candidate: φ* never loses to it unseen
    target_rep, weight_rep = _repeat(target, members), _repeat(weight, members)
    z_dim = problem.mapping.z_dim if problem.mapping is not None else problem.generator.input_dim
    best_phi = phi0.clone()
    tracker = _Members.start(torch.zeros(batch, z_dim, device=target.device), c0)
    for generation in range(plan["transform_generations"]):
        u = _clamp_search(search.ask(), kind)
        phi = search_to_params(u, kind, _repeat(phi0, members).view(batch, members, -1)).flatten(0, 1)
        if generation == 0:
            start = _Members.start(
                problem.truncate(_seeded_normal(batch * members, z_dim, seed, target.device)), _repeat(c0, members)
            )
        else:
            start = _Members.start(_repeat(tracker.z, members), _repeat(tracker.c, members))
        framed_target = apply_transform(target_rep, phi)
        _drain(
            _adam(problem, start, framed_target, transform_mask(weight_rep, phi), plan["transform_steps"], "transform")
        )
        with torch.no_grad():
            back = invert_transform(start.output, phi)
            scores = problem.loss(back, target_rep, weight_rep)
        search.tell(scores.view(batch, members))
        found = _Members(z=start.z, c=start.c, loss=scores, output=back)
        loss, output, c, z = found.per_target(batch)
        improved = loss < tracker.loss
        tracker.update(loss, z, c, output)
        winner = phi.view(batch, members, -1)[torch.arange(batch), scores.view(batch, members).argmin(1)]
        best_phi = torch.where(improved[:, None], winner, best_phi)
        yield _Progress("transform", scores, back, tracker, best_phi)
    return best_phi, tracker.z, tracker.c
