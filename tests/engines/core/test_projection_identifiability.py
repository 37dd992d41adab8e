"""Identifiability of the transform search: render G(z, c) for known z and c, place it in the target's frame by
a known φ (shift, scale, brightness), project it, and check that φ, the class and a low loss come back; more φ
generations must not do worse than φ0 alone. Budget accounting across the stages."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engines.core.projection import METHODS, ProjectionConfig, budget_plan, project
from engines.core.transforms import TRANSFORMS, foreground_box, invert_transform


class ShapesGenerator(nn.Module):
    """Class-conditional G(x, c): c mixes three centred shapes of radius 0.5 (disk, ring, cross); x[0] sets
    their stroke (ring and bar width, the disk's edge), never their size or brightness, so φ is identifiable.
    ``B x 2`` and ``B x 3`` -> ``B x 1 x 32 x 32`` in [-1, 1]; black background."""

    input_dim, embedding_dim, num_classes, conditional = 2, 3, 3, True
    output_shape = (1, 32, 32)

    def __init__(self):
        super().__init__()
        coords = torch.linspace(-1, 1, 32)
        self.register_buffer("x", coords[None].expand(32, 32).clone())
        self.register_buffer("y", coords[:, None].expand(32, 32).clone())
        self.table = nn.Embedding(3, 3)
        self.table.weight.data = torch.eye(3)
        self.requires_grad_(False)

    def class_embedding(self, labels):
        return self.table(labels)

    def shapes(self, x):
        """``B x 2`` -> ``B x 3 x 32 x 32`` shapes in [0, 1]."""
        stroke = (1 + 0.5 * torch.tanh(x[:, :1, None, None])) + 0 * x[:, 1:, None, None]  # 0.5 .. 1.5
        radius = (self.x.square() + self.y.square()).sqrt()[None, None]
        disk = torch.sigmoid((0.5 - radius) * 25 / stroke)
        ring = torch.exp(-(radius - 0.5).square() / (2 * (0.07 * stroke) ** 2))
        bar = lambda u: torch.exp(-u.square() / (2 * (0.1 * stroke) ** 2))  # noqa: E731
        cross = torch.maximum(bar(self.x), bar(self.y)) * torch.sigmoid((0.5 - radius) * 25)
        return torch.cat([disk, ring, cross], dim=1)

    def forward_conditional(self, x, c):
        return -1 + 2 * (c[:, :, None, None] * self.shapes(x)).sum(1, keepdim=True)

    def forward(self, x):
        return self.forward_conditional(x, torch.full((len(x), 3), 1 / 3))

    def classifier(self, images):  # best match with the centred shapes (reads aligned images only)
        templates = self.shapes(torch.zeros(1, 2))[0] * 2 - 1
        return -(images - templates[None]).abs().flatten(2).mean(-1)


TRUE_PHI = torch.tensor(
    [  # sx, sy, tx, ty, γ: the generation lands smaller/larger, off-centre and dimmed in the target
        [0.65, 0.65, 0.30, -0.20, 1.6],
        [1.25, 1.25, -0.25, 0.15, 1.3],
        [0.80, 0.80, 0.10, 0.30, 2.0],
    ]
)
LABELS = torch.tensor([0, 1, 2])
TRUE_X = torch.tensor([[0.8, 0.0], [-0.5, 0.0], [0.3, 0.0]])
SMALL = dict(budget=1500, population=8, inner_steps=20, transform_steps=20, z_lr=0.1, class_lr=0.05, beta=0.0)


@pytest.fixture(scope="module")
def warped():
    generator = ShapesGenerator()
    with torch.no_grad():
        target = invert_transform(generator.forward_conditional(TRUE_X, generator.class_embedding(LABELS)), TRUE_PHI)
    return generator, target


def projected(generator, target, *, with_steps=False, **settings):
    steps = list(project(generator, target, config=ProjectionConfig(**(SMALL | settings)), seed=0))
    return (steps[-1].result, steps) if with_steps else steps[-1].result


def test_the_warped_targets_are_misaligned_and_the_classifier_misreads_them_unaligned(warped):
    generator, target = warped
    assert generator.classifier(target).argmax(1).tolist() != LABELS.tolist()
    box = foreground_box(target)
    assert bool((box.flatten(1).sum(1) > 0).all()) and not bool(box.flatten(1).all(1).any())


@pytest.mark.parametrize("method", ["adam", "basincma"])
def test_phi_class_and_loss_are_recovered(warped, method):
    generator, target = warped
    settings = dict(method=method, transform="spatial+color", transform_fraction=0.5)
    result, steps = projected(generator, target, with_steps=True, **settings)
    phi = result.transform
    assert torch.allclose(phi[:, :2], TRUE_PHI[:, :2], rtol=0.1), phi  # scales within 10 %
    assert torch.allclose(phi[:, 2:4], TRUE_PHI[:, 2:4], atol=0.05), phi  # shifts within 2.5 % of the side
    assert torch.allclose(phi[:, 4], TRUE_PHI[:, 4], rtol=0.2), phi  # brightness within 20 %
    found = result.best("class_embedding")
    assert found.argmax(1).tolist() == LABELS.tolist()
    best = result.original_losses.min(1).values
    unwarped = projected(generator, target, method=method, transform="none").original_losses.min(1).values
    assert bool((best < 0.05).all()), best  # mean |error| per pixel in [-1, 1]
    assert bool((best < 0.3 * unwarped).all()), (best, unwarped)
    searched = [step.best_loss for step in steps if step.stage == "transform"][-1]  # same loss, same frame
    assert bool((best <= searched + 1e-4).all()), (best, searched)  # stage 2 never undoes the search


def test_more_phi_generations_recover_phi_better_than_phi0_alone(warped):
    generator, target = warped

    def phi_error(fraction):
        config = dict(method="adam", transform="spatial+color", transform_fraction=fraction)
        plan = budget_plan(ProjectionConfig(**(SMALL | config)))
        phi = projected(generator, target, **config).transform
        return plan["transform_generations"], float((phi[:, :4] - TRUE_PHI[:, :4]).abs().mean())

    generations_few, error_few = phi_error(0.11)
    generations_many, error_many = phi_error(0.5)
    assert generations_few == 1 and generations_many >= 4
    assert error_many < 0.5 * error_few, (error_few, error_many)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("method", METHODS)
def test_every_stage_is_counted_and_the_budget_is_kept(warped, method, transform):
    generator, target = warped
    config = dict(method=method, transform=transform, budget=400, inner_steps=6, transform_steps=3)
    steps = list(project(generator, target[:1], config=ProjectionConfig(**(SMALL | config)), seed=0))
    plan = budget_plan(ProjectionConfig(**(SMALL | config)))
    spent = {stage: max(s.evaluations for s in steps if s.stage == stage) for stage in {s.stage for s in steps}}
    if transform != "none":
        assert spent["transform"] == 8 * (plan["transform_first_steps"] + (plan["transform_generations"] - 1) * 3)
    if method != "lbfgs":  # L-BFGS's line search may stop a few passes short of its limit
        assert steps[-1].result.evaluations == plan["planned"]
    assert 0.9 * 400 <= steps[-1].result.evaluations <= 400


def test_phi0_frames_the_object_box_and_brightens_its_peak_to_white(warped):
    from engines.core.projection.transform_search import start_params

    generator, target = warped
    config = ProjectionConfig(transform="spatial+color", object_extent=0.6)  # radius 0.5 plus soft edges
    phi0 = start_params(target, None, config)
    assert torch.allclose(phi0[:, 2:4], TRUE_PHI[:, 2:4], atol=0.08)
    assert torch.allclose(phi0[:, :2], TRUE_PHI[:, :2], rtol=0.15) and torch.equal(phi0[:, 0], phi0[:, 1])
    assert torch.allclose(phi0[:, 4], TRUE_PHI[:, 4], rtol=0.1)
    photo = torch.rand(1, 1, 32, 32) * 2 - 1  # no border-coloured background: no box, identity
    assert torch.equal(
        start_params(photo, None, ProjectionConfig(transform="spatial"))[0], torch.tensor([1.0, 1, 0, 0, 1])
    )
