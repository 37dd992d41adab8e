"""Projection of images into (class-conditional) generators, after pix2latent (Huh et al., ECCV 2020).

``project(...)`` is a step generator like :func:`engines.core.optim.invert`: the caller owns the loop.
Methods: ``adam``, ``lbfgs``, ``cma`` (pycma), ``cma+adam`` (Adam from CMA's best samples) and
``basincma`` (each generation CMA samples a population, every sample takes M Adam steps, CMA is told
the post-Adam losses at the pre-Adam points; a final Adam stage refines the best). X-space and Z-space
share every line: the optimised variable is ``z`` and ``x = mapping(z)`` when Θ is given, else ``x = z``.
``B`` targets × ``K`` population members are one batch: item ``b*K + k`` is member ``k`` of target ``b``.

The budget is in generator forward passes per target (one image through G, with or without backward);
each method spends it its own way, see :func:`budget_plan`.

Transforms (``config.transform``): the two-stage search. Stage 1: CMA over φ (:mod:`engines.core.transforms`)
with a population whose z (and c) are refined by Adam on the transformed target; each φ is scored by the
loss of the inverse-transformed generation against the untouched target. Stage 2: φ* is fixed and the
chosen method projects on the transformed target and mask. φ0 comes from the object mask's box.

Generator interface (duck-typed; :class:`Generator` spells it out)::

    generator.input_dim: int                       # dim of x
    generator.output_shape: tuple[int, int, int]   # C x H x W, images in [-1, 1]
    generator(x: B x input_dim) -> B x C x H x W   # unconditional models
    # class-conditional models additionally:
    generator.conditional = True
    generator.embedding_dim: int                   # E
    generator.num_classes: int
    generator.class_embedding(labels: LongTensor B) -> B x E
    generator.forward_conditional(x: B x input_dim, c: B x E) -> B x C x H x W
    generator.classifier: Callable[[B x C x H x W], B x num_classes logits] | None
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from engines.core.cma_search import BatchedCMA
from engines.core.device import module_device
from engines.core.projection_loss import BETA, OUTSIDE_WEIGHT, ProjectionLoss, make_projection_loss, mask_weights
from engines.core.transforms import (
    TRANSFORMS,
    apply_transform,
    identity_params,
    invert_transform,
    params_from_mask,
    params_to_search,
    search_to_params,
    transform_mask,
)

logger = logging.getLogger(__name__)

METHODS = ("adam", "lbfgs", "cma", "cma+adam", "basincma")
SEARCH_LIMITS = {"log_scale": 1.4, "shift": 1.0}  # scales in [e^-1.4, e^1.4] ≈ [0.25, 4], shifts in [-1, 1]


@runtime_checkable
class Generator(Protocol):
    """What :func:`project` needs of a generator (class-conditional members only when ``conditional``)."""

    input_dim: int
    output_shape: tuple[int, ...]

    def __call__(self, x: Tensor) -> Tensor: ...


class ConditionalGenerator(Generator, Protocol):
    """A class-conditional generator G(x, c) with a class-embedding table and (optionally) a classifier."""

    conditional: bool  # True
    embedding_dim: int
    num_classes: int
    classifier: Callable[[Tensor], Tensor] | None

    def class_embedding(self, labels: Tensor) -> Tensor: ...

    def forward_conditional(self, x: Tensor, c: Tensor) -> Tensor: ...


def is_conditional(generator: nn.Module) -> bool:
    return bool(getattr(generator, "conditional", False))


@dataclass(frozen=True, kw_only=True)
class ProjectionConfig:
    """Settings of :func:`project` (pix2latent's defaults for a 128-d z, budget = Adam on 18 × 300).

    budget: generator forward passes per target. population: K (seeds of Adam/L-BFGS, CMA's population).
    inner_steps: Adam steps per BasinCMA / transform-search sample (M). final_fraction: share of the
    (post-transform) budget for BasinCMA's final Adam; cma+adam gives CMA half and Adam half.
    final_members: how many of each target's best members the final Adam refines (None = all K; the
    others are reported as found), so fewer members get more steps each.
    transform_fraction: share of the budget for stage 1 of the transform search.
    z_lr / class_lr: Adam learning rates of z and of the class embedding c; lbfgs_lr: L-BFGS's.
    sigma: CMA's initial step over z; transform_sigma: over the transform's search vector.
    truncation: clamp ``|z|∞ <= truncation`` after every step (None = off).
    beta: LPIPS weight (0 = L1 alone); outside_weight: mask weight outside the object.
    object_extent: share of the generator frame the object's box should fill (φ0).
    """

    method: str = "basincma"
    transform: str = "none"
    budget: int = 5400
    population: int = 18
    inner_steps: int = 30
    final_fraction: float = 0.25
    final_members: int | None = None
    transform_fraction: float = 0.3
    z_lr: float = 0.05
    class_lr: float = 0.01
    lbfgs_lr: float = 1.0
    sigma: float = 1.0
    transform_sigma: float = 0.15
    truncation: float | None = None
    optimise_class: bool = True
    beta: float = BETA
    outside_weight: float = OUTSIDE_WEIGHT
    object_extent: float = 1.0
    keep_population: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose from {METHODS}")
        if self.transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {self.transform!r}; choose from {TRANSFORMS}")
        if self.population < 2 or self.inner_steps < 1:
            raise ValueError("population must be >= 2 and inner_steps >= 1")
        if self.budget < 2 * self.population:
            raise ValueError(f"budget {self.budget} is below two generations of {self.population}")
        if not (0 <= self.final_fraction < 1 and 0 <= self.transform_fraction < 1):
            raise ValueError("final_fraction and transform_fraction must be in [0, 1)")
        if min(self.z_lr, self.class_lr, self.lbfgs_lr, self.sigma, self.transform_sigma) <= 0:
            raise ValueError("learning rates and CMA step sizes must be positive")
        if self.final_members is not None and not 1 <= self.final_members <= self.population:
            raise ValueError(f"final_members must be in [1, {self.population}] or None")
        if self.truncation is not None and self.truncation <= 0:
            raise ValueError("truncation must be positive or None")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def budget_plan(config: ProjectionConfig) -> dict[str, int]:
    """How ``config.method`` spends ``config.budget`` (forward passes per target).

    Keys: ``transform_generations``, ``transform_steps`` (stage 1: generations × K × steps),
    ``generations`` (CMA / BasinCMA), ``inner_steps`` (BasinCMA's M), ``adam_steps`` (per member:
    Adam, L-BFGS's limit, cma+adam's Adam, BasinCMA's final Adam), ``final_members`` (members that take
    the final Adam steps), ``planned`` (total).
    """
    population = config.population
    refined = config.final_members or population
    plan = {"transform_generations": 0, "transform_steps": 0, "generations": 0, "inner_steps": 0, "adam_steps": 0}
    plan["final_members"] = population if config.method in ("adam", "lbfgs") else refined
    remaining = config.budget
    if config.transform != "none":
        share = int(config.budget * config.transform_fraction)
        steps = max(1, min(config.inner_steps, share // (2 * population)))
        plan["transform_steps"] = steps
        plan["transform_generations"] = max(1, share // (population * steps))
        remaining -= plan["transform_generations"] * population * steps
    if remaining < population:
        raise ValueError(f"budget {config.budget} leaves less than one pass per member after the transform search")
    if config.method in ("adam", "lbfgs"):
        plan["adam_steps"] = remaining // population
    elif config.method == "cma":
        plan["generations"] = remaining // population
    elif config.method == "cma+adam":
        plan["generations"] = max(1, remaining // 2 // population)
        plan["adam_steps"] = (remaining - plan["generations"] * population) // refined
    else:
        final = int(remaining * config.final_fraction) // refined
        inner = max(1, min(config.inner_steps, (remaining - final * refined) // population))
        plan["inner_steps"], plan["adam_steps"] = inner, final
        plan["generations"] = max(1, (remaining - final * refined) // (population * inner))
        plan["adam_steps"] = max(0, remaining - plan["generations"] * population * inner) // refined  # the rest
    used = plan["transform_generations"] * population * plan["transform_steps"]
    used += plan["generations"] * population * max(1, plan["inner_steps"]) + plan["adam_steps"] * plan["final_members"]
    plan["planned"] = used
    return plan


@dataclass(frozen=True)
class ProjectionResult:
    """The end of a projection, every tensor detached on the CPU. ``B`` targets, ``K`` members each.

    z: ``B x K x Dz``; x: ``B x K x Dx`` (= z in X-space); class_embedding: ``B x K x E`` or None.
    output: ``B x K x C x H x W`` generations in the generator's frame.
    reprojected: ``B x K x C x H x W`` generations inverse-transformed into the target's frame.
    pasted: ``B x K x C x H x W`` the target with the object region replaced by ``reprojected``.
    losses: ``B x K`` objective in the generator frame; original_losses: ``B x K`` objective of
    ``reprojected`` against the untouched target. transform: ``B x 5`` φ*; transformed_target /
    transformed_weight: ``B x C|1 x H x W``. evaluations: forward passes per target actually spent.
    loss_name: ``"l1+10*lpips"`` or ``"l1"`` (LPIPS unavailable).
    """

    z: Tensor
    x: Tensor
    class_embedding: Tensor | None
    output: Tensor
    reprojected: Tensor
    pasted: Tensor
    losses: Tensor
    original_losses: Tensor
    transform: Tensor
    transformed_target: Tensor
    transformed_weight: Tensor
    evaluations: int
    loss_name: str

    @property
    def best_index(self) -> Tensor:
        """``B``: the member with the lowest loss in the original frame."""
        return self.original_losses.argmin(dim=1)

    def best(self, name: str) -> Tensor:
        """One field (``"z"``, ``"output"``, ``"pasted"``, ...) at each target's best member: ``B x ...``."""
        value = getattr(self, name)
        return value[torch.arange(value.shape[0]), self.best_index]


@dataclass(frozen=True)
class ProjectionStep:
    """One streamed step: an Adam/L-BFGS step or a CMA generation. Tensors detached on the CPU.

    stage: ``"transform"`` (stage 1), ``"search"`` (the method's main loop) or ``"final"`` (final Adam).
    index: running count of yielded steps (0, 1, ...). evaluations: forward passes per target so far.
    losses: ``B x K`` this step's population losses (post-Adam for BasinCMA; original frame in stage 1).
    best_loss: ``B`` best loss so far in this stage. best_output: ``B x C x H x W`` (generator frame).
    population: ``B x K x C x H x W`` this step's generations, or None (``keep_population=False``).
    transform: ``B x 5`` current best φ; transformed_target: ``B x C x H x W`` target under it.
    class_embedding: ``B x E`` the best member's c, or None. result: set on the last step only.
    """

    stage: str
    index: int
    evaluations: int
    losses: Tensor
    best_loss: Tensor
    best_output: Tensor
    population: Tensor | None
    transform: Tensor
    transformed_target: Tensor
    class_embedding: Tensor | None
    result: ProjectionResult | None = None


@dataclass
class _Members:
    """Internal, mutable: the best point seen by each of ``N = B*K`` members (rows)."""

    z: Tensor
    c: Tensor | None
    loss: Tensor
    output: Tensor | None = None

    @classmethod
    def start(cls, z: Tensor, c: Tensor | None) -> _Members:
        return cls(z=z.detach().clone(), c=None if c is None else c.detach().clone(), loss=z.new_full((len(z),), 1e30))

    def update(self, loss: Tensor, z: Tensor, c: Tensor | None, output: Tensor) -> None:
        """Keep, row by row, whichever of the stored and the new point has the lower loss."""
        better = loss.detach() < self.loss
        if self.output is None:
            self.output = output.detach().clone()
        self.loss = torch.where(better, loss.detach(), self.loss)
        self.z = torch.where(better[:, None], z.detach(), self.z)
        if c is not None:
            self.c = torch.where(better[:, None], c.detach(), self.c)
        self.output = torch.where(better.view(-1, *[1] * (output.dim() - 1)), output.detach(), self.output)

    def per_target(self, batch: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor]:
        """The best member of each target: loss ``B``, output ``B x ...``, c ``B x E`` or None, z ``B x D``."""
        members = len(self.loss) // batch
        index = self.loss.view(batch, members).argmin(1) + torch.arange(batch, device=self.loss.device) * members
        return self.loss[index], self.output[index], None if self.c is None else self.c[index], self.z[index]

    def top(self, batch: int, keep: int) -> _Members:
        """Each target's ``keep`` lowest-loss members (rows stay grouped by target)."""
        members = len(self.loss) // batch
        order = self.loss.view(batch, members).argsort(1)[:, :keep]
        index = (order + torch.arange(batch, device=order.device)[:, None] * members).flatten()
        pick = lambda value: None if value is None else value[index]  # noqa: E731
        return _Members(z=self.z[index], c=pick(self.c), loss=self.loss[index], output=pick(self.output))

    def slice(self, batch: int, start: int, stop: int) -> _Members:
        """Members ``start:stop`` of every target (rows stay grouped by target)."""

        def cut(value: Tensor | None) -> Tensor | None:
            return None if value is None else value.view(batch, -1, *value.shape[1:])[:, start:stop].flatten(0, 1)

        return _Members(z=cut(self.z), c=cut(self.c), loss=cut(self.loss), output=cut(self.output))

    @staticmethod
    def join(first: _Members, second: _Members, batch: int) -> _Members:
        """Members of both, target by target (``B*(K1+K2)`` rows)."""

        def cat(a: Tensor | None, b: Tensor | None) -> Tensor | None:
            if a is None or b is None:
                a = torch.zeros_like(b) if a is None and b is not None else a
                if a is None or b is None:
                    return None
            return torch.cat([a.view(batch, -1, *a.shape[1:]), b.view(batch, -1, *b.shape[1:])], 1).flatten(0, 1)

        return _Members(
            z=cat(first.z, second.z),
            c=cat(first.c, second.c),
            loss=cat(first.loss, second.loss),
            output=cat(first.output, second.output),
        )


@dataclass(frozen=True)
class _Progress:
    """Internal: what a stage reports after a step (``N = B*K`` rows, best so far per target)."""

    stage: str
    losses: Tensor
    outputs: Tensor
    best: _Members
    transform: Tensor | None = None


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
        losses = problem.loss(output, target, weight)
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
        solver.zero_grad(set_to_none=True)
        _, output = problem.render(problem.truncate(z), c)
        losses = problem.loss(output, target, weight)
        start.update(losses, problem.truncate(z), c, output)
        seen.append((losses.detach(), output.detach()))
        total = losses.sum()
        total.backward()
        return total

    while problem.evaluations < limit:
        seen.clear()
        solver.step(closure)
        yield _Progress("search", *seen[-1], start)


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
            losses = problem.loss(output, target, weight)
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


def _run_method(
    problem: _Problem, target: Tensor, weight: Tensor, c0: Tensor | None, z_start: Tensor | None, plan: dict, seed: int
) -> Iterator[_Progress]:
    """Stage 2: the chosen method on the (transformed) target; returns the final ``B*K`` members."""
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


def predict_class(generator: nn.Module, images: Tensor) -> Tensor:
    """``B`` labels from the generator's classifier (``B x C x H x W`` images in [-1, 1])."""
    classifier = getattr(generator, "classifier", None)
    if classifier is None:
        raise ValueError("this generator has no classifier: give the class labels")
    with torch.no_grad():
        return classifier(images).argmax(1)


def initial_class_embedding(generator: nn.Module, images: Tensor, labels: Tensor | None) -> Tensor | None:
    """c0 ``B x E`` for a conditional generator (from ``labels`` or its classifier), None otherwise."""
    if not is_conditional(generator):
        if labels is not None:
            raise ValueError("labels were given but the generator is not class-conditional")
        return None
    if labels is None:
        labels = predict_class(generator, images)
    labels = torch.as_tensor(labels, dtype=torch.long, device=images.device).reshape(-1)
    if len(labels) != len(images) or bool(((labels < 0) | (labels >= generator.num_classes)).any()):
        raise ValueError(f"need one label in [0, {generator.num_classes}) per target")
    with torch.no_grad():
        return generator.class_embedding(labels).detach()


def _check_inputs(generator: nn.Module, target: Tensor, mask: Tensor | None, mapping: nn.Module | None) -> None:
    expected = tuple(getattr(generator, "output_shape", target.shape[1:]))
    if target.dim() != 4 or tuple(target.shape[1:]) != expected:
        raise ValueError(f"target has shape {tuple(target.shape)}, expected B x {'x'.join(map(str, expected))}")
    if not torch.isfinite(target).all():
        raise ValueError("target contains NaN or infinite values")
    if mask is not None and (mask.shape[0] != target.shape[0] or not bool((mask > 0.5).flatten(1).any(1).all())):
        raise ValueError("the mask needs one B x 1 x H x W map per target, each with some object pixels")
    if mapping is not None and not hasattr(mapping, "z_dim"):
        raise ValueError("the mapping network Θ must have a z_dim attribute")


class _Stream:
    """Turns internal progress into :class:`ProjectionStep` objects (CPU tensors)."""

    def __init__(self, problem: _Problem, target: Tensor):
        self.problem, self.target, self.count = problem, target, 0

    def step(self, progress: _Progress, phi: Tensor, result: ProjectionResult | None = None) -> ProjectionStep:
        batch, keep = self.problem.batch, self.problem.config.keep_population
        transform = progress.transform if progress.transform is not None else phi
        best_loss, best_output, best_c, _ = progress.best.per_target(batch)
        outputs = progress.outputs.view(batch, -1, *progress.outputs.shape[1:])
        self.count += 1
        return ProjectionStep(
            stage=progress.stage,
            index=self.count - 1,
            evaluations=self.problem.evaluations,
            losses=progress.losses.view(batch, -1).cpu(),
            best_loss=best_loss.cpu(),
            best_output=best_output.cpu(),
            population=outputs.cpu() if keep else None,
            transform=transform.cpu(),
            transformed_target=apply_transform(self.target, transform).cpu(),
            class_embedding=None if best_c is None else best_c.cpu(),
            result=result,
        )

    def relay(self, inner: Iterator[_Progress], phi: Tensor) -> Iterator[ProjectionStep]:
        """Yield a step per progress of ``inner``; return ``inner``'s return value."""
        while True:
            try:
                progress = next(inner)
            except StopIteration as stop:
                return stop.value
            yield self.step(progress, phi)


def _result(
    problem: _Problem,
    members: _Members,
    target: Tensor,
    weight: Tensor,
    mask: Tensor | None,
    phi: Tensor,
    loss_name: str,
) -> ProjectionResult:
    """The final members, reprojected into the target's frame and pasted into it."""
    batch, count = problem.batch, problem.config.population
    grouped = lambda value: None if value is None else value.view(batch, count, *value.shape[1:]).cpu()  # noqa: E731
    phi_rep, target_rep, weight_rep = _repeat(phi, count), _repeat(target, count), _repeat(weight, count)
    with torch.no_grad():
        x = problem.mapping(members.z) if problem.mapping is not None else members.z
        reprojected = invert_transform(members.output, phi_rep)
        inside = torch.ones_like(weight_rep) if mask is None else _repeat((mask > 0.5).to(target.dtype), count)
        pasted = inside * reprojected + (1 - inside) * target_rep
        original_losses = problem.loss(reprojected, target_rep, weight_rep)
    return ProjectionResult(
        z=grouped(members.z),
        x=grouped(x),
        class_embedding=grouped(members.c),
        output=grouped(members.output),
        reprojected=grouped(reprojected),
        pasted=grouped(pasted),
        losses=members.loss.view(batch, count).cpu(),
        original_losses=original_losses.view(batch, count).cpu(),
        transform=phi.cpu(),
        transformed_target=apply_transform(target, phi).cpu(),
        transformed_weight=transform_mask(weight, phi).cpu(),
        evaluations=problem.evaluations,
        loss_name=loss_name,
    )


def project(
    generator: nn.Module,
    target: Tensor,
    *,
    mask: Tensor | None = None,
    mapping: nn.Module | None = None,
    labels: Tensor | None = None,
    config: ProjectionConfig | None = None,
    seed: int = 0,
) -> Iterator[ProjectionStep]:
    """Project ``B`` targets into ``generator``; yields a :class:`ProjectionStep` per step or generation.

    generator: see the module docstring (conditional models get c from ``labels`` or their classifier,
    then optimise it at ``class_lr``). target: ``B x C x H x W`` in [-1, 1]. mask: ``B x 1 x H x W``
    object mask (1 = object; weights 1 inside, 0.3 outside; None = the whole image is the object; its
    box gives φ0). mapping: Θ for Z-space (``x = mapping(z)``), None for X-space. Runs on the
    generator's device. The last step (stage ``"done"``) carries the :class:`ProjectionResult`.
    """
    config = config or ProjectionConfig()
    _check_inputs(generator, target, mask, mapping)
    plan = budget_plan(config)
    device = module_device(generator, target.device)
    target, mask = target.to(device), None if mask is None else mask.to(device)
    batch = len(target)
    weight = mask_weights(mask, target.shape, outside=config.outside_weight).to(device)
    loss, loss_name = make_projection_loss(beta=config.beta)
    problem = _Problem(generator, mapping, loss, batch, config)
    phi = identity_params(batch, device)
    if mask is not None and config.transform in ("spatial", "spatial+color"):
        phi = params_from_mask(mask, object_extent=config.object_extent)
    c0 = initial_class_embedding(generator, apply_transform(target, phi), labels)
    stream, z_start = _Stream(problem, target), None
    if config.transform != "none":
        stage = _search_transform(problem, target, weight, phi, c0, plan, seed)
        phi, z_start, c0 = yield from stream.relay(stage, phi)
        if labels is None and c0 is not None:  # the classifier reads the target again, now aligned by φ*
            c0 = initial_class_embedding(generator, apply_transform(target, phi), None)
    framed_target, framed_weight = apply_transform(target, phi), transform_mask(weight, phi)
    members = yield from stream.relay(_run_method(problem, framed_target, framed_weight, c0, z_start, plan, seed), phi)
    result = _result(problem, members, target, weight, mask, phi, loss_name)
    done = _Progress("done", members.loss, members.output, members)
    yield stream.step(done, phi, result)


@dataclass(frozen=True)
class FineTuneStep:
    """One fine-tuning step: ``losses`` ``B`` (objective without the anchor), ``output`` ``B x C x H x W``
    in the generator frame, ``drift`` = ‖θ−θ0‖²; ``generator`` (the tuned copy) on the last step only."""

    index: int
    losses: Tensor
    output: Tensor
    drift: float
    generator: nn.Module | None = None


def fine_tune(
    generator: nn.Module,
    z: Tensor,
    target: Tensor,
    *,
    mask: Tensor | None = None,
    mapping: nn.Module | None = None,
    class_embedding: Tensor | None = None,
    transform: Tensor | None = None,
    steps: int = 200,
    lr: float = 1e-4,
    anchor: float = 1e3,
    beta: float = BETA,
) -> Iterator[FineTuneStep]:
    """pix2latent §3.5: fine-tune a deep copy of G's weights on the projection, with λ‖θ−θ0‖² (λ = ``anchor``).

    z: ``B x Dz`` projected latents (x = mapping(z) when Θ is given); target ``B x C x H x W`` and mask
    as for :func:`project`; transform: ``B x 5`` φ* (None = identity). The shared ``generator`` is
    never touched. Yields ``steps + 1`` steps; the last holds the tuned copy.
    """
    if steps < 0 or not lr > 0 or anchor < 0:
        raise ValueError("fine_tune needs steps >= 0, lr > 0 and anchor >= 0")
    tuned = copy.deepcopy(generator).requires_grad_(True)
    device = module_device(tuned, target.device)
    target, z = target.to(device), z.to(device).detach()
    phi = identity_params(len(target), device) if transform is None else transform.to(device)
    weight = mask_weights(None if mask is None else mask.to(device), target.shape).to(device)
    framed_target, framed_weight = apply_transform(target, phi), transform_mask(weight, phi)
    loss, _ = make_projection_loss(beta=beta)
    with torch.no_grad():
        x = mapping(z) if mapping is not None else z
    originals = [parameter.detach().clone() for parameter in tuned.parameters()]
    optimizer = torch.optim.Adam(tuned.parameters(), lr=lr)

    def render() -> Tensor:
        return tuned.forward_conditional(x, class_embedding.to(device)) if class_embedding is not None else tuned(x)

    for index in range(steps + 1):
        output = render() if index < steps else render().detach()
        losses = loss(output, framed_target, framed_weight)
        drift = sum((p - p0).square().sum() for p, p0 in zip(tuned.parameters(), originals))
        if index == steps:
            yield FineTuneStep(index, losses.detach().cpu(), output.detach().cpu(), float(drift.detach()), tuned.eval())
            return
        optimizer.zero_grad(set_to_none=True)
        (losses.sum() + anchor * drift).backward()
        optimizer.step()
        yield FineTuneStep(index, losses.detach().cpu(), output.detach().cpu(), float(drift.detach()))
