"""Test-time adversarial defense by reversal (Mao et al., ICCV 2021), in X-space or in a learned landscape.

Given attacked images ``a`` (flat, ``B x D`` in [0, 1]), find an additive reversal vector ``r``
lowering ``contrastive(clamp(a + r)) + λ‖r‖²``; the classifier then reads ``clamp(a + r)``.
Baseline: ``r`` optimised directly (X-space, small random start, Adam). Ours: ``r = Θ(z)``, ``z``
optimised (random start, Adam), Θ trained by Algorithm 1 on this objective. Both run the one step
generator of image inversion, :func:`engines.core.optim.invert`: the "forward model" is the
identity on ``r`` and the attacked image is the target that the loss hook compares it with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engines.core.optim import Step, invert


@dataclass(frozen=True, kw_only=True)
class DefenseConfig:
    """Reversal settings: λ (``weight``), Adam rates for r (X) and z (Z), random-start scales."""

    weight: float = 1.0
    x_lr: float = 0.05
    z_lr: float = 0.1
    x_init_scale: float = 0.01
    z_init_scale: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.weight < 0 or self.x_lr <= 0 or self.z_lr <= 0 or self.x_init_scale < 0 or self.z_init_scale < 0:
            raise ValueError("DefenseConfig needs weight >= 0, positive learning rates, non-negative start scales")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DefenseConfig:
        return cls(**{name: value for name, value in data.items() if name in cls.__dataclass_fields__})


class ReversalForward(nn.Module):
    """The identity on reversal vectors ``B x dim`` (the forward model the step generator inverts)."""

    def __init__(self, dim: int):
        super().__init__()
        self.input_dim = dim
        self.output_shape = (dim,)

    def forward(self, reversal: Tensor) -> Tensor:
        return reversal


def repair(attacked: Tensor, reversal: Tensor) -> Tensor:
    """``clamp(a + r, 0, 1)``, shaped like ``attacked``."""
    return (attacked + reversal.reshape(attacked.shape)).clamp(0, 1)


def reversal_loss(contrastive: Callable[[Tensor], Tensor], weight: float) -> Callable:
    """The loss hook ``(r: B x D, a: B x D, mask) -> B``: contrastive(clamp(a + r)) + λ‖r‖²."""

    def loss(reversal: Tensor, attacked: Tensor, _mask: Tensor | None = None) -> Tensor:
        return contrastive(repair(attacked, reversal)) + weight * reversal.pow(2).sum(1)

    return loss


def reversal_start(count: int, dim: int, *, space: str, config: DefenseConfig) -> Tensor:
    """Random starts ``count x dim``: r0 ~ U(-s, s) in X, z0 ~ s·N(0, I) in Z (seeded by ``config.seed``).

    One start is drawn and shared by every image, so an image's reversal does not depend on its batch.
    """
    generator = torch.Generator().manual_seed(config.seed)
    if space == "x":
        start = config.x_init_scale * (2 * torch.rand(1, dim, generator=generator) - 1)
    else:
        start = config.z_init_scale * torch.randn(1, dim, generator=generator)
    return start.expand(count, dim).clone()


def reverse(
    contrastive: Callable[[Tensor], Tensor],
    attacked: Tensor,
    *,
    mapping: nn.Module | None = None,
    config: DefenseConfig | None = None,
    steps: int = 5,
) -> Iterator[Step]:
    """Reversal steps for ``attacked`` (``B x D`` flat images in [0, 1]); ``mapping=None`` is X-space.

    Yields ``steps + 1`` :class:`~engines.core.optim.Step` s whose ``x`` is the reversal ``r``
    (``B x D``) and ``losses`` the per-image objective; :func:`repair` gives the repaired images.
    """
    config = config or DefenseConfig()
    attacked = attacked.reshape(len(attacked), -1).detach()
    dim = attacked.shape[1]
    space = "x" if mapping is None else "z"
    z_dim = dim if mapping is None else mapping.z_dim
    forward = ReversalForward(dim).to(attacked.device)
    yield from invert(
        forward,
        attacked,
        mapping=mapping,
        loss=reversal_loss(contrastive, config.weight),
        optimizer="adam",
        lr=config.x_lr if mapping is None else config.z_lr,
        steps=steps,
        z_init=reversal_start(len(attacked), z_dim, space=space, config=config),
        seed=config.seed,
        keep_output=False,
    )


def defend(
    contrastive: Callable[[Tensor], Tensor],
    attacked: Tensor,
    *,
    mapping: nn.Module | None = None,
    config: DefenseConfig | None = None,
    steps: int = 5,
) -> Tensor:
    """The repaired images after ``steps`` reversal steps, shaped like ``attacked`` (0 steps: unchanged)."""
    if steps == 0:
        return attacked.detach().clone()
    with torch.enable_grad():
        for step in reverse(contrastive, attacked, mapping=mapping, config=config, steps=steps):
            last = step
    return repair(attacked.detach(), last.x)
