"""``project(...)``: the two stages tied together, streamed as :class:`ProjectionStep` objects."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from engines.core.device import module_device
from engines.core.projection.config import ProjectionConfig, budget_plan, is_conditional
from engines.core.projection.methods import _Problem, _repeat, _run_method
from engines.core.projection.results import ProjectionResult, ProjectionStep, _Members, _Progress
from engines.core.projection.transform_search import _search_transform, start_params
from engines.core.projection_loss import make_projection_loss, mask_weights
from engines.core.transforms import apply_transform, invert_transform, transform_mask


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


def _stretch(images: Tensor) -> Tensor:
    """Each image's range stretched to [-1, 1] (dimmed targets read as well as bright ones)."""
    low = images.flatten(1).amin(1).view(-1, 1, 1, 1)
    high = images.flatten(1).amax(1).view(-1, 1, 1, 1)
    return torch.where(high > low, (images - low) / (high - low).clamp_min(1e-6) * 2 - 1, images)


def _classifier_view(target: Tensor, mask: Tensor | None, config: ProjectionConfig) -> Tensor:
    """What the classifier reads for c0: the target framed on its object box (as for a spatial φ0, squared)
    and contrast-stretched, whatever transform is searched."""
    framing = dataclasses.replace(config, transform="spatial", isotropic_start=True)
    return _stretch(apply_transform(target, start_params(target, mask, framing)))


def _reread_class(generator: nn.Module, c: Tensor, aligned: Tensor) -> Tensor:
    """Stage 1's c ``B x E`` where the classifier, reading the ``aligned`` targets, names the class nearest to
    it (so stage 2 starts from stage 1's very point); that class's embedding where it names another."""
    table = generator.class_embedding(torch.arange(generator.num_classes, device=c.device))
    read = predict_class(generator, aligned)
    agrees = (torch.cdist(c, table).argmin(1) == read)[:, None]
    return torch.where(agrees, c, table[read]).detach()


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
        framed = problem.loss(members.output, apply_transform(target_rep, phi_rep), transform_mask(weight_rep, phi_rep))
    return ProjectionResult(
        z=grouped(members.z),
        x=grouped(x),
        class_embedding=grouped(members.c),
        output=grouped(members.output),
        reprojected=grouped(reprojected),
        pasted=grouped(pasted),
        losses=framed.view(batch, count).cpu(),
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
    phi = start_params(target, mask, config)
    c0 = initial_class_embedding(generator, _classifier_view(target, mask, config), labels)
    stream, z_start = _Stream(problem, target), None
    if config.transform != "none":
        stage = _search_transform(problem, target, weight, phi, c0, plan, seed)
        phi, z_start, c0 = yield from stream.relay(stage, phi)
        if labels is None and c0 is not None:  # the classifier reads the target again, now aligned by φ*
            c0 = _reread_class(generator, c0, _stretch(apply_transform(target, phi)))
    if config.transform != "none":
        problem.frame = phi  # stage 2 scores in the target's frame, as stage 1 and the final L1 do
    members = yield from stream.relay(_run_method(problem, target, weight, c0, z_start, plan, seed), phi)
    result = _result(problem, members, target, weight, mask, phi, loss_name)
    done = _Progress("done", members.loss, members.output, members)
    yield stream.step(done, phi, result)
