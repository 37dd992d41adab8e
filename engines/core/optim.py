"""Inversion by gradient descent, as a generator of steps.

One function serves both spaces: X-space is ``mapping=None`` (``x = z``), Z-space
passes Θ (``x = mapping(z)``). Targets and hypotheses are one batch: ``B`` targets
times ``K`` hypotheses give ``B*K`` independent items, item ``b*K + k`` being
hypothesis ``k`` of target ``b``. The caller owns the loop and may stop at any step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engines.core.device import module_device
from engines.core.losses import LossFn, check_weight, get_loss

OPTIMIZERS = ("adam", "sgd", "lbfgs")


@dataclass(frozen=True)
class Step:
    """One optimisation step. Tensors are detached, on the CPU unless ``invert(keep_on_device=True)``
    left them on the compute device (then :meth:`cpu` copies them when a frame is shown).

    index: 0 for the starting point, then 1..steps.
    losses: ``B*K`` per-item objective values at this step's ``x``.
    x: ``B*K x D`` inputs of the forward model.
    z: ``B*K x Dz`` optimised variables (equal to ``x`` in X-space).
    output: ``B*K x ...`` forward-model outputs, or ``None`` when not requested.
    """

    index: int
    losses: Tensor
    x: Tensor
    z: Tensor
    output: Tensor | None

    @property
    def finite(self) -> bool:
        return bool(torch.isfinite(self.losses).all())

    def cpu(self) -> Step:
        """This step with every tensor on the CPU (itself when they already are)."""
        if self.losses.device.type == "cpu":
            return self
        output = self.output.cpu() if self.output is not None else None
        return Step(index=self.index, losses=self.losses.cpu(), x=self.x.cpu(), z=self.z.cpu(), output=output)


def make_optimizer(name: str, params: list[Tensor], lr: float) -> torch.optim.Optimizer:
    """Adam, SGD or L-BFGS (one iteration per step, strong-Wolfe line search) by name."""
    if not lr > 0:
        raise ValueError(f"learning rate must be positive, got {lr}")
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "lbfgs":
        return torch.optim.LBFGS(params, lr=lr, max_iter=1, history_size=20, line_search_fn="strong_wolfe")
    raise ValueError(f"unknown optimizer {name!r}; choose from {OPTIMIZERS}")


def initial_z(count: int, dim: int, *, mode: str | Tensor, seed: int, device: torch.device) -> Tensor:
    """Starting points ``count x dim``: zeros, standard normal (seeded), or a given tensor."""
    if isinstance(mode, Tensor):
        if mode.shape != (count, dim):
            raise ValueError(f"z_init has shape {tuple(mode.shape)}, expected {(count, dim)}")
        return mode.detach().clone().to(device)
    if mode == "zeros":
        return torch.zeros(count, dim, device=device)
    if mode == "random":
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(count, dim, generator=generator).to(device)
    raise ValueError(f"z_init must be 'zeros', 'random' or a tensor, got {mode!r}")


def check_target(forward: nn.Module, target: Tensor) -> None:
    """Raise ``ValueError`` unless ``target`` is ``B x output_shape`` for ``forward``."""
    expected = tuple(getattr(forward, "output_shape", target.shape[1:]))
    if target.dim() != len(expected) + 1 or tuple(target.shape[1:]) != expected:
        raise ValueError(f"target has shape {tuple(target.shape)}, expected B x {'x'.join(map(str, expected))}")
    if not torch.isfinite(target).all():
        raise ValueError("target contains NaN or infinite values")


def invert(
    forward: nn.Module,
    target: Tensor,
    *,
    mapping: nn.Module | None = None,
    weight: Tensor | None = None,
    loss: str | LossFn = "mse",
    optimizer: str = "adam",
    lr: float = 0.1,
    steps: int = 200,
    num_hypotheses: int = 1,
    z_init: str | Tensor = "zeros",
    seed: int = 0,
    keep_output: bool | Callable[[int], bool] = True,
    keep_on_device: bool = False,
) -> Iterator[Step]:
    """Recover the input of ``forward`` whose output matches ``target``.

    forward: the model F, ``B x D`` -> ``B x output_shape``, with attribute ``input_dim``.
    target: ``B x output_shape``. weight: mask broadcastable to the output (0 = unknown).
    mapping: Θ for Z-space (``x = mapping(z)``), ``None`` for X-space, on ``forward``'s device.
    Runs on ``forward``'s device (``target`` and ``weight`` are moved there once). Steps hold CPU
    tensors, or tensors left on that device with ``keep_on_device=True`` (see :meth:`Step.cpu`).
    Yields ``steps + 1`` :class:`Step` objects, the first before any update.
    """
    check_target(forward, target)
    if steps < 0 or num_hypotheses < 1:
        raise ValueError("steps must be >= 0 and num_hypotheses >= 1")
    loss_fn = get_loss(loss) if isinstance(loss, str) else loss
    device = module_device(forward, target.device)
    target = target.to(device).repeat_interleave(num_hypotheses, dim=0)
    if weight is not None:
        weight = check_weight(weight.to(device), target)
        if weight.shape[0] > 1:
            weight = weight.repeat_interleave(num_hypotheses, dim=0)
    z_dim = mapping.z_dim if mapping is not None else forward.input_dim
    z = initial_z(target.shape[0], z_dim, mode=z_init, seed=seed, device=device).requires_grad_(True)
    solver = make_optimizer(optimizer, [z], lr)
    want_output = keep_output if callable(keep_output) else (lambda _index: keep_output)

    def evaluate() -> tuple[Tensor, Tensor, Tensor]:
        x = mapping(z) if mapping is not None else z
        output = forward(x)
        return loss_fn(output, target, weight), x, output

    def snapshot(index: int, per_item: Tensor, x: Tensor, output: Tensor) -> Step:
        step = Step(
            index=index,
            losses=per_item.detach().clone(),
            x=x.detach().clone(),
            z=z.detach().clone(),
            output=output.detach() if want_output(index) else None,
        )
        return step if keep_on_device else step.cpu()

    # The forward pass that gives step t's loss also gives the gradient of step t+1,
    # so each step costs one forward and one backward pass.
    for index in range(steps):
        recorded: list[Step] = []

        def closure() -> Tensor:
            solver.zero_grad(set_to_none=True)
            per_item, x, output = evaluate()
            if not recorded:
                recorded.append(snapshot(index, per_item, x, output))
            total = per_item.sum()
            total.backward()
            return total

        solver.step(closure)
        yield recorded[0]
    with torch.no_grad():  # never yield inside: grad mode is thread state and would leak to the caller
        last = snapshot(steps, *evaluate())
    yield last
