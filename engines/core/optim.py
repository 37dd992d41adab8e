"""Inversion by gradient descent, as a generator of steps.

One function serves every space: X-space is ``mapping=None`` (``x = z``), Z-space
passes Θ (``x = mapping(z)``). Targets and hypotheses are one batch: ``B`` targets
times ``K`` hypotheses give ``B*K`` independent items, item ``b*K + k`` being
hypothesis ``k`` of target ``b``. The caller owns the loop and may stop at any step.

Z→X (``handoff=k``): ``k`` steps in Z-space, then X-space from ``x = Θ(z_k)`` with a fresh optimiser.
:func:`invert_spaces` runs several spaces (X, Z, Z→X) as one batch of F per step.
"""

from __future__ import annotations

import dataclasses
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
    space: "z" while ``x = Θ(z)``, "x" while ``x`` is optimised directly (a Z→X run with hand-off
    ``k`` says "z" for steps ``0..k-1`` and "x" from ``k`` on, its ``z`` staying at ``z_k``).
    """

    index: int
    losses: Tensor
    x: Tensor
    z: Tensor
    output: Tensor | None
    space: str = "x"

    @property
    def finite(self) -> bool:
        return bool(torch.isfinite(self.losses).all())

    def cpu(self) -> Step:
        """This step with every tensor on the CPU (itself when they already are)."""
        if self.losses.device.type == "cpu":
            return self
        output = self.output.cpu() if self.output is not None else None
        return dataclasses.replace(self, losses=self.losses.cpu(), x=self.x.cpu(), z=self.z.cpu(), output=output)


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


@dataclass(frozen=True, kw_only=True)
class Space:
    """How one arm of :func:`invert_spaces` produces ``x``.

    mapping: ``None`` for X-space (``x`` optimised directly), Θ for Z-space (``x = mapping(z)``).
    lr, optimizer: the optimiser of the first phase (``None`` optimizer: the call's ``optimizer``).
    handoff: with Θ, Z→X: ``handoff`` steps in Z-space, then X-space from ``x = Θ(z_k)`` with a fresh
    optimiser (``handoff_optimizer``, default the first one) at ``handoff_lr`` (default ``lr``);
    the step index runs on. ``None``: no hand-off.
    penalty: ``N x D -> N`` per-item regulariser of the optimised variable (``z``, or ``x`` after a
    hand-off), added to the objective for the gradient only: :attr:`Step.losses` stay the data term.
    handoff_penalty: with a hand-off, the regulariser of ``x`` after it instead of ``penalty`` (e.g. a pull
    towards the prior of F's input, so that X-space keeps the prior where the target says little).
    """

    mapping: nn.Module | None = None
    lr: float = 0.1
    optimizer: str | None = None
    handoff: int | None = None
    handoff_lr: float | None = None
    handoff_optimizer: str | None = None
    penalty: Callable[[Tensor], Tensor] | None = None
    handoff_penalty: Callable[[Tensor], Tensor] | None = None

    def __post_init__(self) -> None:
        if self.handoff is not None:
            if self.mapping is None:
                raise ValueError("a hand-off needs a mapping Θ (it starts in Z-space)")
            if not (isinstance(self.handoff, int) and self.handoff >= 0):
                raise ValueError(f"handoff must be a whole number >= 0, got {self.handoff!r}")
        for lr in (self.lr, self.handoff_lr):
            if lr is not None and not lr > 0:
                raise ValueError(f"learning rate must be positive, got {lr}")
        for name in (self.optimizer, self.handoff_optimizer):
            if name is not None and name not in OPTIMIZERS:
                raise ValueError(f"unknown optimizer {name!r}; choose from {OPTIMIZERS}")

    @property
    def label(self) -> str:
        """ "X", "Z" or "Z→X"."""
        return "X" if self.mapping is None else ("Z" if self.handoff is None else "Z→X")


class _Arm:
    """The optimisation state of one :class:`Space`: its variable, its optimiser, its phase."""

    def __init__(self, space: Space, z: Tensor, optimizer: str) -> None:
        self.space = space
        self.z = z.requires_grad_(True)
        self.x: Tensor | None = None  # the X-space variable once handed off
        self.solver = make_optimizer(space.optimizer or optimizer, [self.z], space.lr)
        self.optimizer_name = space.optimizer or optimizer

    @property
    def in_z(self) -> bool:
        return self.space.mapping is not None and self.x is None

    def maybe_hand_off(self, index: int) -> None:
        """At step ``handoff``, continue in X-space from Θ(z_k) with a fresh optimiser."""
        space = self.space
        if space.handoff is None or index != space.handoff or self.x is not None:
            return
        with torch.no_grad():
            self.x = space.mapping(self.z).detach().clone()
        self.x.requires_grad_(True)
        self.optimizer_name = space.handoff_optimizer or self.optimizer_name
        self.solver = make_optimizer(self.optimizer_name, [self.x], space.handoff_lr or space.lr)

    def penalty(self) -> Tensor | float:
        """The summed regulariser of this arm's optimised variable (0 without one)."""
        if self.x is not None and self.space.handoff_penalty is not None:
            return self.space.handoff_penalty(self.x).sum()
        if self.space.penalty is None:
            return 0.0
        return self.space.penalty(self.x if self.x is not None else self.z).sum()

    def current_x(self) -> Tensor:
        if self.x is not None:
            return self.x
        return self.space.mapping(self.z) if self.space.mapping is not None else self.z


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
    handoff: int | None = None,
    handoff_lr: float | None = None,
    handoff_optimizer: str | None = None,
    penalty: Callable[[Tensor], Tensor] | None = None,
    handoff_penalty: Callable[[Tensor], Tensor] | None = None,
    num_hypotheses: int = 1,
    z_init: str | Tensor = "zeros",
    seed: int = 0,
    keep_output: bool | Callable[[int], bool] = True,
    keep_on_device: bool = False,
) -> Iterator[Step]:
    """Recover the input of ``forward`` whose output matches ``target``, in one space.

    mapping: Θ for Z-space (``x = mapping(z)``), ``None`` for X-space, on ``forward``'s device.
    handoff: with Θ, Z→X (see :class:`Space`): ``handoff`` Z steps, then X-space from Θ(z_k) at
    ``handoff_lr`` with ``handoff_optimizer``. penalty: a per-item regulariser of the optimised
    variable (see :class:`Space`). Every other argument as in :func:`invert_spaces`.
    Yields ``steps + 1`` :class:`Step` objects, the first before any update.
    """
    space = Space(
        mapping=mapping,
        lr=lr,
        handoff=handoff,
        handoff_lr=handoff_lr,
        handoff_optimizer=handoff_optimizer,
        penalty=penalty,
        handoff_penalty=handoff_penalty,
    )
    options = dict(weight=weight, loss=loss, optimizer=optimizer, steps=steps, num_hypotheses=num_hypotheses)
    options.update(z_init=z_init, seed=seed, keep_output=keep_output, keep_on_device=keep_on_device)
    for (step,) in invert_spaces(forward, target, [space], **options):
        yield step


def invert_spaces(
    forward: nn.Module,
    target: Tensor,
    spaces: list[Space],
    *,
    weight: Tensor | None = None,
    loss: str | LossFn = "mse",
    optimizer: str = "adam",
    steps: int = 200,
    num_hypotheses: int = 1,
    z_init: str | Tensor = "zeros",
    seed: int = 0,
    keep_output: bool | Callable[[int], bool] = True,
    keep_on_device: bool = False,
) -> Iterator[tuple[Step, ...]]:
    """Invert ``target`` in several spaces at once (e.g. X, Z and Z→X), one forward pass of F per step.

    forward: the model F, ``N x D`` -> ``N x output_shape``, with attribute ``input_dim``.
    target: ``B x output_shape``. weight: mask broadcastable to the output (0 = unknown).
    loss: a name or a hook ``(output, target, weight) -> N`` per-item values (the defense passes one).
    Each space gets the ``B*K`` items of ``B`` targets times ``K`` hypotheses (item ``b*K + k``),
    its own variable and optimiser; the items of every space are concatenated into one batch of F,
    so the spaces stay independent (each item's loss depends on its own input only). Starting points
    come from ``z_init`` with the same ``seed`` for every space. Runs on ``forward``'s device; steps hold
    CPU tensors unless ``keep_on_device``. Yields ``steps + 1`` tuples, one :class:`Step` per space.
    """
    check_target(forward, target)
    if steps < 0 or num_hypotheses < 1:
        raise ValueError("steps must be >= 0 and num_hypotheses >= 1")
    if not spaces:
        raise ValueError("invert_spaces needs at least one space")
    loss_fn = get_loss(loss) if isinstance(loss, str) else loss
    device = module_device(forward, target.device)
    target = target.to(device).repeat_interleave(num_hypotheses, dim=0)
    if weight is not None:
        weight = check_weight(weight.to(device), target)
        if weight.shape[0] > 1:
            weight = weight.repeat_interleave(num_hypotheses, dim=0)
    count = target.shape[0]
    arms = []
    for space in spaces:
        dim = space.mapping.z_dim if space.mapping is not None else forward.input_dim
        arms.append(_Arm(space, initial_z(count, dim, mode=z_init, seed=seed, device=device), optimizer))
    all_targets = target.repeat(len(arms), *([1] * (target.dim() - 1)))
    all_weights = (
        weight if weight is None or weight.shape[0] == 1 else weight.repeat(len(arms), *([1] * (weight.dim() - 1)))
    )
    want_output = keep_output if callable(keep_output) else (lambda _index: keep_output)

    def evaluate() -> tuple[Tensor, Tensor, Tensor]:
        x = torch.cat([arm.current_x() for arm in arms])
        output = forward(x)
        return loss_fn(output, all_targets, all_weights), x, output

    def snapshot(index: int, per_item: Tensor, x: Tensor, output: Tensor) -> tuple[Step, ...]:
        keep = want_output(index)
        result = []
        for number, arm in enumerate(arms):
            part = slice(number * count, (number + 1) * count)
            step = Step(
                index=index,
                losses=per_item[part].detach().clone(),
                x=x[part].detach().clone(),
                z=arm.z.detach().clone(),
                output=output[part].detach() if keep else None,
                space="z" if arm.in_z else "x",
            )
            result.append(step if keep_on_device else step.cpu())
        return tuple(result)

    # The forward pass that gives step t's loss also gives the gradient of step t+1,
    # so each step costs one forward and one backward pass (L-BFGS's line search adds more).
    for index in range(steps):
        for arm in arms:
            arm.maybe_hand_off(index)
        recorded: list[tuple[Step, ...]] = []

        def closure() -> Tensor:
            for arm in arms:
                arm.solver.zero_grad(set_to_none=True)
            per_item, x, output = evaluate()
            if not recorded:
                recorded.append(snapshot(index, per_item, x, output))
            total = per_item.sum() + sum(arm.penalty() for arm in arms)
            total.backward()
            return total

        if any(arm.optimizer_name == "lbfgs" for arm in arms):
            # L-BFGS re-evaluates inside its line search; the other arms' terms are constants there.
            for arm in arms:
                arm.solver.step(closure)
        else:
            closure()
            for arm in arms:
                arm.solver.step()
        yield recorded[0]
    with torch.no_grad():  # never yield inside: grad mode is thread state and would leak to the caller
        last = snapshot(steps, *evaluate())
    yield last
