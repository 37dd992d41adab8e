"""project(): every method on tiny random generators, transform search, class search, X = Z with Θ = identity,
budget accounting, fine-tuning on a copy; the masked projection loss."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engines.core.projection import (
    METHODS,
    ProjectionConfig,
    budget_plan,
    fine_tune,
    initial_class_embedding,
    project,
)
from engines.core.projection_loss import make_projection_loss, mask_weights, masked_lpips
from engines.core.transforms import invert_transform

L1 = {"beta": 0.0}  # L1 alone: fast, and what the shift/class tests reason about


class BlobGenerator(nn.Module):
    """A centred Gaussian blob whose brightness is sigmoid(x0): ``B x 2`` -> ``B x 1 x 24 x 24``."""

    input_dim = 2
    output_shape = (1, 24, 24)

    def __init__(self):
        super().__init__()
        coords = torch.linspace(-1, 1, 24)
        self.register_buffer("blob", torch.exp(-(coords[None] ** 2 + coords[:, None] ** 2) / (2 * 0.3**2)))

    def forward(self, x):
        return -1 + 2 * self.blob * torch.sigmoid(x[:, :1, None, None] + 0 * x[:, 1:, None, None])


class TinyConditional(nn.Module):
    """G(x, c) = tanh(c · prototypes + 0.1 x W), 3 classes with one-hot embeddings; ``B x 4`` -> ``B x 1 x 8 x 8``."""

    input_dim, embedding_dim, num_classes, conditional = 4, 3, 3, True
    output_shape = (1, 8, 8)

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.prototypes = nn.Parameter(torch.randn(3, 64, generator=generator))
        self.mix = nn.Parameter(torch.randn(4, 64, generator=generator))
        self.table = nn.Embedding(3, 3)
        self.table.weight.data = torch.eye(3)
        self.requires_grad_(False)

    def class_embedding(self, labels):
        return self.table(labels)

    def forward_conditional(self, x, c):
        return torch.tanh(c @ self.prototypes + 0.1 * x @ self.mix).view(-1, *self.output_shape)

    def classifier(self, images):  # nearest prototype
        return -(images.flatten(1)[:, None] - torch.tanh(self.prototypes)[None]).square().sum(-1)


class Identity(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.z_dim = dim

    def forward(self, z):
        return z * 1.0


def run(generator, target, **kwargs):
    seed = kwargs.pop("seed", 0)
    settings = {"mask": kwargs.pop(name) for name in ["mask"] if name in kwargs}
    settings.update({name: kwargs.pop(name) for name in ["mapping", "labels"] if name in kwargs})
    steps = list(project(generator, target, config=ProjectionConfig(**kwargs), seed=seed, **settings))
    return steps, steps[-1].result


@pytest.mark.parametrize("method", METHODS)
def test_every_method_lowers_the_loss_and_respects_the_budget(method, tiny_model, tiny_targets):
    steps, result = run(tiny_model, tiny_targets[:2], method=method, budget=240, population=4, inner_steps=5, **L1)
    assert steps[-1].stage == "done" and result is not None
    assert result.output.shape == (2, 4, 3, 8, 8) and result.z.shape == (2, 4, 8)
    assert result.evaluations <= 240 and result.evaluations >= 0.8 * 240
    assert all(later.evaluations >= earlier.evaluations for earlier, later in zip(steps, steps[1:]))
    assert bool((result.losses.min(1).values < steps[0].losses.mean(1)).all())
    assert torch.allclose(result.original_losses, result.losses, atol=1e-5)  # no transform: the same frame
    assert result.loss_name == "l1"


@pytest.mark.parametrize("transform", ["spatial", "color", "spatial+color"])
def test_budget_includes_the_transform_search(transform, tiny_model, tiny_targets):
    config = dict(method="basincma", transform=transform, budget=300, population=4, inner_steps=4)
    _, result = run(tiny_model, tiny_targets[:2], **config, **L1)
    assert result.evaluations == budget_plan(ProjectionConfig(**config))["planned"] <= 300
    assert result.transform.shape == (2, 5) and result.reprojected.shape == result.output.shape


def test_a_known_shift_is_recovered_by_the_transform_search():
    generator = BlobGenerator()
    true_phi = torch.tensor([[1.0, 1.0, 0.35, -0.25, 1.0]])
    with torch.no_grad():
        target = invert_transform(generator(torch.tensor([[2.0, 0.0]])), true_phi)
    config = dict(method="adam", budget=800, population=8, inner_steps=5, transform_fraction=0.5, z_lr=0.1)
    _, moved = run(generator, target, transform="spatial", **config, **L1)
    _, fixed = run(generator, target, transform="none", **config, **L1)
    assert torch.allclose(moved.transform[0, 2:4], true_phi[0, 2:4], atol=0.06)
    assert float(moved.original_losses.min()) < 0.5 * float(fixed.original_losses.min())


def test_class_search_moves_toward_the_right_class():
    generator = TinyConditional()
    with torch.no_grad():
        target = generator.forward_conditional(torch.zeros(1, 4), generator.class_embedding(torch.tensor([2])))
    assert int(initial_class_embedding(generator, target, None).argmax()) == 2  # the classifier's guess
    wrong = torch.tensor([0])
    _, result = run(generator, target, labels=wrong, method="adam", budget=4 * 80, population=4, **L1)
    start = generator.class_embedding(wrong)
    right = generator.class_embedding(torch.tensor([2]))
    found = result.best("class_embedding")
    assert float((found - right).norm()) < 0.7 * float((start - right).norm())
    _, frozen = run(
        generator, target, labels=wrong, method="adam", budget=4 * 80, population=4, optimise_class=False, **L1
    )
    assert torch.equal(frozen.class_embedding, start.expand(1, 4, 3))


@pytest.mark.parametrize("method", ["adam", "basincma"])
def test_x_and_z_agree_when_theta_is_the_identity(method, tiny_model, tiny_targets):
    config = dict(method=method, transform="spatial", budget=160, population=4, inner_steps=4, **L1)
    _, in_x = run(tiny_model, tiny_targets[:2], **config)
    _, in_z = run(tiny_model, tiny_targets[:2], mapping=Identity(tiny_model.input_dim), **config)
    assert torch.allclose(in_x.z, in_z.z, atol=1e-5) and torch.allclose(in_x.x, in_z.x, atol=1e-5)
    assert torch.allclose(in_x.original_losses, in_z.original_losses, atol=1e-5)


def test_truncation_mask_and_pasting(tiny_model, tiny_targets):
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:6, 2:6] = 1
    _, result = run(
        tiny_model, tiny_targets[:2], mask=mask, method="cma+adam", budget=120, population=4, truncation=0.5, **L1
    )
    assert float(result.z.abs().max()) <= 0.5 + 1e-6
    outside = (mask == 0).expand(2, 3, 8, 8)
    assert torch.equal(result.pasted[:, 0][outside], tiny_targets[:2][outside])  # the target outside the object
    inside = (mask == 1).expand(2, 3, 8, 8)
    assert torch.equal(result.pasted[:, 0][inside], result.reprojected[:, 0][inside])


def test_bad_input_raises(tiny_model, tiny_targets):
    with pytest.raises(ValueError, match="unknown method"):
        ProjectionConfig(method="sgd")
    with pytest.raises(ValueError, match="target has shape"):
        next(project(tiny_model, torch.zeros(1, 3, 9, 9)))
    with pytest.raises(ValueError, match="not class-conditional"):
        next(project(tiny_model, tiny_targets, labels=torch.tensor([0, 1, 2, 3])))
    with pytest.raises(ValueError, match="object pixels"):
        next(project(tiny_model, tiny_targets, mask=torch.zeros(4, 1, 8, 8)))


def test_fine_tune_works_on_a_copy(tiny_model, tiny_targets):
    before = [parameter.clone() for parameter in tiny_model.parameters()]
    z = torch.zeros(2, tiny_model.input_dim)
    steps = list(fine_tune(tiny_model, z, tiny_targets[:2], steps=30, lr=1e-2, anchor=1e-3, beta=0.0))
    assert len(steps) == 31 and steps[-1].generator is not None and steps[0].generator is None
    assert float(steps[-1].losses.sum()) < 0.8 * float(steps[0].losses.sum()) and steps[-1].drift > 0
    assert all(torch.equal(a, b) for a, b in zip(before, tiny_model.parameters()))
    assert not any(parameter.requires_grad for parameter in tiny_model.parameters())
    anchored = list(fine_tune(tiny_model, z, tiny_targets[:2], steps=30, lr=1e-2, anchor=1e3, beta=0.0))
    assert anchored[-1].drift < steps[-1].drift


def test_masked_lpips_and_weights():
    weights = mask_weights(torch.tensor([[[[0.0, 1.0]]]]), (1, 3, 1, 2))
    assert torch.allclose(weights, torch.tensor([[[[0.3, 1.0]]]]))
    metric = masked_lpips()
    assert metric is not None  # the offline LPIPS asset is shipped
    torch.manual_seed(0)
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(metric(image, image), torch.zeros(2), atol=1e-6)
    changed = image.clone()
    changed[:, :, :, :16] = -changed[:, :, :, :16]  # the left half differs
    object_right = torch.zeros(2, 1, 32, 32)
    object_right[..., 16:] = 1
    full = metric(changed, image)
    masked = metric(changed, image, mask_weights(object_right, image.shape))
    assert bool((masked < full).all()) and bool((masked > 0).all())
    loss, name = make_projection_loss()
    assert name == "l1+10*lpips"
    assert loss(changed, image, None).shape == (2,)


def test_final_adam_can_refine_only_the_best_members(tiny_model, tiny_targets):
    config = dict(method="basincma", budget=200, population=4, inner_steps=5, final_fraction=0.5, final_members=1)
    plan = budget_plan(ProjectionConfig(**config))
    assert plan["final_members"] == 1 and plan["adam_steps"] >= 100 // 1 - 5 and plan["planned"] <= 200
    _, result = run(tiny_model, tiny_targets[:2], **config, **L1)
    assert result.output.shape[:2] == (2, 4) and result.evaluations == plan["planned"]
    assert bool((result.losses[:, 0] <= result.losses[:, 1:].min(1).values).all())  # the refined one leads


def test_a_conditional_generator_runs_the_transform_search_with_its_classifier():
    generator = TinyConditional()
    with torch.no_grad():
        target = generator.forward_conditional(torch.zeros(2, 4), generator.class_embedding(torch.tensor([2, 1])))
    steps, result = run(
        generator, target, method="basincma", transform="spatial+color", budget=160, population=4, inner_steps=4, **L1
    )
    assert {step.stage for step in steps} == {"transform", "search", "final", "done"}
    assert result.class_embedding.shape == (2, 4, 3) and steps[-1].class_embedding.shape == (2, 3)
    assert result.best("class_embedding").argmax(1).tolist() == [2, 1]  # classifier's class, kept by the search
