"""What :func:`project` yields and returns, and the internal member bookkeeping shared by its stages."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


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
