"""Settings of :func:`project` and how a method spends its budget; the generator interface."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from torch import Tensor, nn

from engines.core.projection_loss import BETA, OUTSIDE_WEIGHT
from engines.core.transforms import TRANSFORMS

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
    """Settings of :func:`project` (pix2latent's defaults for a 128-d z, budget = Adam on 18 × 300, except
    ``final_fraction`` 0.5 and the transform search's settings, chosen on misaligned training digits, issue 20).

    budget: generator forward passes per target. population: K (seeds of Adam/L-BFGS, CMA's population).
    inner_steps: Adam steps per BasinCMA / transform-search sample (M). final_fraction: share of the
    (post-transform) budget for BasinCMA's final Adam; cma+adam gives CMA half and Adam half.
    final_members: how many of each target's best members the final Adam refines (None = all K; the
    others are reported as found), so fewer members get more steps each.
    transform_fraction: share of the budget for stage 1 of the transform search. transform_steps: Adam
    steps per φ candidate after stage 1's first generation (which explores z at φ0 with M steps);
    transform_lr: Adam's learning rate on φ's search vector during stage 1.
    z_lr / class_lr: Adam learning rates of z and of the class embedding c; lbfgs_lr: L-BFGS's.
    sigma: CMA's initial step over z; transform_sigma: over the transform's search vector.
    truncation: clamp ``|z|∞ <= truncation`` after every step (None = off).
    beta: LPIPS weight (0 = L1 alone); outside_weight: mask weight outside the object.
    object_extent: share of the generator frame the object's box should fill (φ0); the box is the mask's,
    or without a mask the box of what differs from the border's colour (none for photos: φ0 = identity).
    isotropic_start: φ0's two scales both take the larger one (a narrow ``1`` keeps its aspect).
    brightness_start: with a colour transform, φ0's γ maps the object's brightest pixels to white.
    """

    method: str = "basincma"
    transform: str = "none"
    budget: int = 5400
    population: int = 18
    inner_steps: int = 30
    final_fraction: float = 0.5
    final_members: int | None = None
    transform_fraction: float = 0.3
    z_lr: float = 0.05
    class_lr: float = 0.01
    lbfgs_lr: float = 1.0
    sigma: float = 1.0
    transform_sigma: float = 0.15
    transform_steps: int = 10
    transform_lr: float = 0.01
    truncation: float | None = None
    optimise_class: bool = True
    beta: float = BETA
    outside_weight: float = OUTSIDE_WEIGHT
    object_extent: float = 0.75
    isotropic_start: bool = True
    brightness_start: bool = True
    keep_population: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose from {METHODS}")
        if self.transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {self.transform!r}; choose from {TRANSFORMS}")
        if self.population < 2 or self.inner_steps < 1 or self.transform_steps < 1:
            raise ValueError("population must be >= 2, inner_steps and transform_steps >= 1")
        if not 0 < self.object_extent <= 4:
            raise ValueError("object_extent must be in (0, 4]")
        if self.budget < 2 * self.population:
            raise ValueError(f"budget {self.budget} is below two generations of {self.population}")
        if not (0 <= self.final_fraction < 1 and 0 <= self.transform_fraction < 1):
            raise ValueError("final_fraction and transform_fraction must be in [0, 1)")
        if min(self.z_lr, self.class_lr, self.lbfgs_lr, self.sigma, self.transform_sigma, self.transform_lr) <= 0:
            raise ValueError("learning rates and CMA step sizes must be positive")
        if self.final_members is not None and not 1 <= self.final_members <= self.population:
            raise ValueError(f"final_members must be in [1, {self.population}] or None")
        if self.truncation is not None and self.truncation <= 0:
            raise ValueError("truncation must be positive or None")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def budget_plan(config: ProjectionConfig) -> dict[str, int]:
    """How ``config.method`` spends ``config.budget`` (forward passes per target).

    Keys: ``transform_generations``, ``transform_first_steps``, ``transform_steps`` (stage 1: one
    generation of K × first steps exploring z at φ0, then generations - 1 of K × steps over φ),
    ``generations`` (CMA / BasinCMA), ``inner_steps`` (BasinCMA's M), ``adam_steps`` (per member:
    Adam, L-BFGS's limit, cma+adam's Adam, BasinCMA's final Adam), ``final_members`` (members that take
    the final Adam steps), ``planned`` (total).
    """
    population = config.population
    refined = config.final_members or population
    plan = {"transform_generations": 0, "transform_first_steps": 0, "transform_steps": 0}
    plan |= {"generations": 0, "inner_steps": 0, "adam_steps": 0}
    plan["final_members"] = population if config.method in ("adam", "lbfgs") else refined
    remaining = config.budget
    if config.transform != "none":
        share = int(config.budget * config.transform_fraction)
        first = max(1, min(config.inner_steps, share // (2 * population)))
        steps = config.transform_steps
        plan["transform_first_steps"], plan["transform_steps"] = first, steps
        plan["transform_generations"] = 1 + max(0, share - population * first) // (population * steps)
        remaining -= _transform_passes(plan, population)
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
    used = _transform_passes(plan, population)
    used += plan["generations"] * population * max(1, plan["inner_steps"]) + plan["adam_steps"] * plan["final_members"]
    plan["planned"] = used
    return plan


def _transform_passes(plan: dict[str, int], population: int) -> int:
    """Forward passes per target of stage 1 of the transform search."""
    if plan["transform_generations"] == 0:
        return 0
    return population * (plan["transform_first_steps"] + (plan["transform_generations"] - 1) * plan["transform_steps"])
