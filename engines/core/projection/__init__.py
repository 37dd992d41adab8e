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

Layout: :mod:`.config` (settings, budget plan, generator protocol), :mod:`.results` (result and step
objects), :mod:`.methods` (Adam, L-BFGS, CMA, BasinCMA), :mod:`.transform_search` (stage 1),
:mod:`.driver` (``project``), :mod:`.fine_tune`.
"""

from engines.core.projection.config import (
    METHODS,
    SEARCH_LIMITS,
    ConditionalGenerator,
    Generator,
    ProjectionConfig,
    budget_plan,
    is_conditional,
)
from engines.core.projection.driver import initial_class_embedding, predict_class, project
from engines.core.projection.fine_tune import FineTuneStep, fine_tune
from engines.core.projection.results import ProjectionResult, ProjectionStep

__all__ = [
    "METHODS",
    "SEARCH_LIMITS",
    "ConditionalGenerator",
    "FineTuneStep",
    "Generator",
    "ProjectionConfig",
    "ProjectionResult",
    "ProjectionStep",
    "budget_plan",
    "fine_tune",
    "initial_class_embedding",
    "is_conditional",
    "predict_class",
    "project",
]
