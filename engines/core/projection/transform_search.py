"""Stage 1 of the transform search: φ0 from the object box, then CMA over φ, each candidate scored in the
target's frame after a short Adam run from a common z."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from engines.core.cma_search import BatchedCMA
from engines.core.projection.config import SEARCH_LIMITS, ProjectionConfig
from engines.core.projection.methods import _Problem, _repeat, _seeded_normal
from engines.core.projection.results import _Members, _Progress
from engines.core.transforms import (
    foreground_box,
    identity_params,
    invert_transform,
    params_from_mask,
    params_to_search,
    search_to_params,
)


def start_params(target: Tensor, mask: Tensor | None, config: ProjectionConfig) -> Tensor:
    """φ0 ``B x 5`` for ``B x C x H x W`` targets: the object box (``mask``'s, else what differs from the
    border's colour) fills ``object_extent`` of the frame; with a colour transform, γ0 maps the object's
    brightest pixels to white. Targets without a box (photos) start from the identity."""
    phi = identity_params(len(target), target.device)
    if config.transform in ("spatial", "spatial+color"):
        box = mask if mask is not None else foreground_box(target)
        found = (box > 0.5).flatten(1).any(1)
        framed = params_from_mask(box, object_extent=config.object_extent)
        if config.isotropic_start:
            framed[:, :2] = framed[:, :2].amax(1, keepdim=True)
        phi = torch.where(found[:, None], framed, phi)
    if config.transform in ("color", "spatial+color") and config.brightness_start:
        peak = target.amax(1).flatten(1).quantile(0.99, dim=1)  # the object's bright pixels, in [-1, 1]
        limit = math.exp(SEARCH_LIMITS["log_scale"])
        phi[:, 4] = (2 / (peak + 1).clamp_min(1e-3)).clamp(1 / limit, limit)
    return phi


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


def _refine(
    problem: _Problem, start: _Members, u: Tensor, base: Tensor, target: Tensor, weight: Tensor, steps: int
) -> Tensor:
    """Adam ``steps`` on z, c and φ's search vector ``u`` (``N x d``) together, on the loss of T_φ⁻¹(G(z))
    against the untouched ``target`` (the frame of the final L1; φ cannot hide target pixels by zooming).
    ``start`` keeps each row's best point (its output: the reprojection). Returns each row's best ``u``."""
    config, kind = problem.config, problem.config.transform
    z = start.z.clone().requires_grad_(True)
    search = u.clone().requires_grad_(True)
    groups = [{"params": [z], "lr": config.z_lr}, {"params": [search], "lr": config.transform_lr}]
    c = None if start.c is None else start.c.clone().requires_grad_(config.optimise_class)
    if c is not None and config.optimise_class:
        groups.append({"params": [c], "lr": config.class_lr})
    solver, best_u = torch.optim.Adam(groups), u.clone()
    for _ in range(steps):
        solver.zero_grad(set_to_none=True)
        _, output = problem.render(z, c)
        back = invert_transform(output, search_to_params(search, kind, base))
        losses = problem.loss(back, target, weight)
        best_u = torch.where((losses.detach() < start.loss)[:, None], search.detach(), best_u)
        start.update(losses, z, c, back)
        losses.sum().backward()
        solver.step()
        with torch.no_grad():
            z.copy_(problem.truncate(z))
            search.copy_(_clamp_search(search, kind))
    return best_u


def _search_transform(
    problem: _Problem, target: Tensor, weight: Tensor, phi0: Tensor, c0: Tensor | None, plan: dict, seed: int
) -> Iterator[_Progress]:
    """Stage 1. Generation 0 explores z: K random z take ``transform_first_steps`` steps from φ0. Then
    BasinCMA over φ: every candidate starts from the same z (the best so far), so candidates differ by φ
    alone (common random numbers), and takes ``transform_steps`` steps. A step is Adam on z, c and φ together
    on the loss of T_φ⁻¹(G(z)) against the untouched target, the frame of the final L1 (:func:`_refine`).
    Returns (φ* ``B x 5``, z ``B x D``, c)."""
    config, batch, members = problem.config, problem.batch, problem.config.population
    kind = config.transform
    search = BatchedCMA(params_to_search(phi0, kind), sigma=config.transform_sigma, population=members, seed=seed + 7)
    target_rep, weight_rep = _repeat(target, members), _repeat(weight, members)
    z_dim = problem.mapping.z_dim if problem.mapping is not None else problem.generator.input_dim
    best_phi = phi0.clone()
    tracker = _Members.start(torch.zeros(batch, z_dim, device=target.device), c0)
    base = _repeat(phi0, members)
    for generation in range(plan["transform_generations"]):
        if generation == 0:
            u = _repeat(params_to_search(phi0, kind), members)
            z = problem.truncate(_seeded_normal(batch * members, z_dim, seed, target.device))
            start, steps = _Members.start(z, _repeat(c0, members)), plan["transform_first_steps"]
        else:
            u = _clamp_search(search.ask(), kind).flatten(0, 1)
            start, steps = (
                _Members.start(_repeat(tracker.z, members), _repeat(tracker.c, members)),
                plan["transform_steps"],
            )
        found = _refine(problem, start, u, base, target_rep, weight_rep, steps)
        if generation > 0:  # BasinCMA over φ: CMA is told the refined loss at the point it asked
            search.tell(start.loss.view(batch, members))
        loss, output, c, z = start.per_target(batch)
        improved = loss < tracker.loss
        tracker.update(loss, z, c, output)
        rows = start.loss.view(batch, members).argmin(1) + torch.arange(batch, device=target.device) * members
        best_phi = torch.where(improved[:, None], search_to_params(found[rows], kind, phi0), best_phi)
        yield _Progress("transform", start.loss, start.output, tracker, best_phi)
    return best_phi, tracker.z, tracker.c
