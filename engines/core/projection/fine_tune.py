"""pix2latent §3.5: fine-tuning a copy of G's weights on a projection."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engines.core.device import module_device
from engines.core.projection_loss import BETA, make_projection_loss, mask_weights
from engines.core.transforms import apply_transform, identity_params, transform_mask


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
