"""Loss landscapes around an inversion: PCA planes of the recovered latents (Liu et al. 2023, §4.5).

Recipe, the same for X-space (``mapping=None``, latents are ``x``) and Z-space
(``mapping=Θ``, latents are ``z`` and ``x = Θ(z)``):

1. run :func:`engines.core.optim.invert` for ``T`` steps (default 20, from zero) on a set of
   targets and keep every visited latent: ``B x (T+1) x D``;
2. PCA of all those latents gives two orthonormal principal directions ``d1, d2``;
3. for one target, the loss ``L(F(c + u d1 + v d2), y)`` (through Θ in Z-space) is evaluated on an
   ``R x R`` grid of ``(u, v)`` in ``[-r, r]²`` centred on that target's last step ``c``;
4. the target's trajectory is projected onto the plane: ``(u_t, v_t) = (latent_t - c) · (d1, d2)``,
   so its last point is exactly the grid centre ``(0, 0)``.

Radius: ``r = radius × reach``, where ``reach`` is how far, in the plane, the optimiser travelled
in that space: the largest ``|u_t|`` or ``|v_t|`` of any collected trajectory measured from its own
last step (max over targets and steps). At ``radius = 1`` every collected path just fits in its
window; the default 1.2 leaves a 20% margin. Measuring the window in units of each space's own
reach makes X and Z comparable: both surfaces cover the same share of the region the optimiser
actually explored in that space, whatever the scale of Θ, and the path is always on the picture.

Grid points (and the projected trajectory points) are one batch, evaluated ``chunk`` points
per forward pass. :func:`smoothness` scores a surface (see its docstring).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engines.core.device import halve_on_out_of_memory, module_device
from engines.core.losses import LossFn, check_weight, get_loss
from engines.core.optim import check_target, invert

SPACES = ("x", "z")


@dataclass(frozen=True, kw_only=True)
class LandscapeConfig:
    """Settings of one landscape: ``steps`` of ``optimizer`` to collect latents, a ``grid x grid`` window
    of half-width ``radius`` (in units of the optimiser's reach in the plane, see the module docstring),
    evaluated ``chunk`` points per forward pass."""

    steps: int = 20
    grid: int = 25
    radius: float = 1.2
    optimizer: str = "adam"
    lr: float = 0.1
    loss: str = "mse"
    chunk: int = 64  # grid points per forward pass: small chunks stay in cache (faster on CPU than 256+)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"LandscapeConfig.steps must be >= 1, got {self.steps}")
        if not 3 <= self.grid <= 201:
            raise ValueError(f"LandscapeConfig.grid must be between 3 and 201, got {self.grid}")
        if not (self.radius > 0 and math.isfinite(self.radius)):
            raise ValueError(f"LandscapeConfig.radius must be a positive number, got {self.radius}")
        if self.chunk < 1:
            raise ValueError(f"LandscapeConfig.chunk must be >= 1, got {self.chunk}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LandscapeConfig:
        return cls(**data)


@dataclass(frozen=True)
class Trajectories:
    """Latents visited by the optimiser: ``latents`` ``B x (T+1) x D`` (x or z), ``losses`` ``B x (T+1)``."""

    latents: Tensor
    losses: Tensor


@dataclass(frozen=True)
class Plane:
    """Two orthonormal principal directions ``2 x D``; ``spread`` σ1, the latents' standard deviation
    along the first; ``explained``, the share of their total variance each direction explains (``2``);
    ``reach``, the largest in-plane coordinate of any trajectory point relative to its own last step
    (σ1 when the trajectories do not move in the plane)."""

    directions: Tensor
    spread: float
    explained: Tensor
    reach: float


@dataclass(frozen=True)
class Smoothness:
    """How rough an ``R x R`` loss surface is; all figures are dimensionless, lower is smoother.

    With ``Δ`` the 5-point discrete Laplacian at the interior grid points, scaled by ``(R-1)²`` so
    that smooth surfaces score the same at any resolution, and ``range = max - min`` of the surface:

    roughness: ``mean |Δ - mean Δ| / range``, the variation of the curvature. Any quadratic surface
        (a plane, a bowl, a saddle) scores 0; spikes, ripples and extra basins score high. This is the
        figure "smoother" is judged by: unlike the mean |Δ| below it does not call a slope (a window
        around an unconverged point) smoother than a clean bowl around a minimum.
    laplacian: ``mean |Δ| / range``, the plain mean absolute curvature (the bowl ``u² + v²``
        scores 8, a plane 0), reported alongside.
    local_minima: interior grid points strictly lower than all 8 neighbours.
    """

    roughness: float
    laplacian: float
    local_minima: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Surface:
    """A loss surface on a principal plane. Tensors are on the CPU.

    space: "x" or "z". coords: ``R`` offsets along each direction, in ``[-radius, radius]``.
    losses: ``R x R``, ``losses[i, j]`` at ``u = coords[j]`` (first direction), ``v = coords[i]`` (second),
    the ``xy`` layout of ``numpy.meshgrid`` and plotly. trajectory: ``(T+1) x 2`` projected ``(u, v)``, the
    last row ``(0, 0)``. trajectory_losses: ``T+1`` losses the optimiser saw; trajectory_plane_losses:
    ``T+1`` losses at the projected points (on the surface). center: ``D``, the last step's latent.
    radius: absolute half-width; seconds: wall time of the grid evaluation.
    """

    space: str
    coords: Tensor
    losses: Tensor
    trajectory: Tensor
    trajectory_losses: Tensor
    trajectory_plane_losses: Tensor
    center: Tensor
    plane: Plane
    radius: float
    smoothness: Smoothness
    seconds: float

    def to_plain(self) -> dict:
        """JSON-able plain data (lists and numbers) for ``gr.State``, figures and benchmark files."""
        return {
            "space": self.space,
            "coords": self.coords.tolist(),
            "losses": self.losses.tolist(),
            "trajectory": self.trajectory.tolist(),
            "trajectory_losses": self.trajectory_losses.tolist(),
            "trajectory_plane_losses": self.trajectory_plane_losses.tolist(),
            "radius": self.radius,
            "spread": self.plane.spread,
            "reach": self.plane.reach,
            "explained": self.plane.explained.tolist(),
            "smoothness": self.smoothness.to_dict(),
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class LandscapeProgress:
    """One progress report of :func:`explore`: ``stage`` "optimise" or "grid", ``done`` of ``total``
    units of that stage; ``surface`` is set on the last report only."""

    stage: str
    done: int
    total: int
    surface: Surface | None = None


def space_of(mapping: nn.Module | None) -> str:
    return "x" if mapping is None else "z"


def collect_steps(
    forward: nn.Module,
    targets: Tensor,
    *,
    mapping: nn.Module | None = None,
    weight: Tensor | None = None,
    config: LandscapeConfig | None = None,
) -> Iterator[Tensor]:
    """Run ``config.steps`` steps of ``invert`` from zero; yields each step's latents ``B x D`` (x or z)
    and finally returns the :class:`Trajectories` (``StopIteration.value``; see :func:`collect`)."""
    config = config or LandscapeConfig()
    latents, losses = [], []
    for step in invert(
        forward,
        targets,
        mapping=mapping,
        weight=weight,
        loss=config.loss,
        optimizer=config.optimizer,
        lr=config.lr,
        steps=config.steps,
        seed=config.seed,
        keep_output=False,
    ):
        latents.append(step.x if mapping is None else step.z)
        losses.append(step.losses)
        yield latents[-1]
    return Trajectories(latents=torch.stack(latents, dim=1), losses=torch.stack(losses, dim=1))


def collect(forward: nn.Module, targets: Tensor, **options) -> Trajectories:
    """:func:`collect_steps` run to the end: the :class:`Trajectories` of all ``B`` targets."""
    steps = collect_steps(forward, targets, **options)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def principal_plane(trajectories: Tensor) -> Plane:
    """PCA of all points of ``B x (T+1) x D`` trajectories (an ``N x D`` tensor is read as one trajectory),
    centred on their mean: the top two directions, σ1, explained shares and the paths' reach."""
    if trajectories.dim() == 2:
        trajectories = trajectories.unsqueeze(0)
    if trajectories.dim() != 3 or trajectories.shape[0] * trajectories.shape[1] < 3 or trajectories.shape[2] < 2:
        raise ValueError(
            f"PCA needs B x (T+1) x D latents with >= 3 points and D >= 2, got {tuple(trajectories.shape)}"
        )
    latents = trajectories.double().flatten(0, 1)
    _, singular, right = torch.linalg.svd(latents - latents.mean(0), full_matrices=False)
    variance = singular.square() / (latents.shape[0] - 1)
    if not variance[0] > 0:
        raise ValueError("the collected latents do not move: no principal direction (run more steps?)")
    spread = float(variance[0].sqrt())
    in_plane = (trajectories.double() - trajectories.double()[:, -1:]) @ right[:2].T
    reach = float(in_plane.abs().max())
    return Plane(
        directions=right[:2].float(),
        spread=spread,
        explained=(variance[:2] / variance.sum()).float(),
        reach=reach if reach > 1e-12 * spread else spread,
    )


def plane_points(center: Tensor, directions: Tensor, coords: Tensor) -> Tensor:
    """``center + u d1 + v d2`` for the ``R x R`` grid of ``coords`` (``xy`` layout): ``R² x D``."""
    v, u = torch.meshgrid(coords, coords, indexing="ij")
    return center + u.reshape(-1, 1) * directions[0] + v.reshape(-1, 1) * directions[1]


def project(latents: Tensor, center: Tensor, directions: Tensor) -> Tensor:
    """Coordinates ``N x 2`` of ``N x D`` latents on the plane through ``center`` spanned by ``directions``."""
    return (latents.double() - center.double()) @ directions.double().T


def batched_losses(
    forward: nn.Module,
    target: Tensor,
    latents: Tensor,
    *,
    mapping: nn.Module | None = None,
    weight: Tensor | None = None,
    loss: str | LossFn = "mse",
    chunk: int = 64,
) -> Iterator[Tensor]:
    """Losses of ``N x D`` latents against one ``1 x output_shape`` target, one forward pass per
    ``chunk`` latents on ``forward``'s device; yields each chunk's losses (``<= chunk``, CPU) in order.
    When the device runs out of memory the chunk is halved and the pass retried."""
    check_target(forward, target)
    if target.shape[0] != 1:
        raise ValueError(f"expected a single target 1 x ..., got batch {target.shape[0]}")
    loss_fn = get_loss(loss) if isinstance(loss, str) else loss
    device = module_device(forward, target.device)
    target = target.to(device)
    weight = check_weight(weight.to(device), target) if weight is not None else None

    def losses_of(part: Tensor) -> Tensor:
        with torch.no_grad():
            x = part if mapping is None else mapping(part)
            output = forward(x)
            return loss_fn(output, target.expand_as(output), weight).detach().cpu()

    start = 0
    while start < len(latents):
        part = latents[start : start + chunk].to(device)
        losses = halve_on_out_of_memory(lambda size, part=part: losses_of(part[:size]), len(part), what="grid points")
        chunk = min(chunk, len(losses))
        start += len(losses)
        yield losses  # never yield inside no_grad: grad mode is thread state and would leak to the caller


def target_weight(weight: Tensor | None, index: int) -> Tensor | None:
    """The mask of target ``index`` from a ``B`` or ``1`` batch of masks."""
    if weight is None or weight.shape[0] == 1:
        return weight
    return weight[index : index + 1]


def smoothness(losses: Tensor) -> Smoothness:
    """Score an ``R x R`` surface (R >= 3); see :class:`Smoothness`. Non-finite surfaces score NaN."""
    if losses.dim() != 2 or min(losses.shape) < 3:
        raise ValueError(f"smoothness needs an R x R surface with R >= 3, got shape {tuple(losses.shape)}")
    values = losses.double()
    if not torch.isfinite(values).all():
        return Smoothness(roughness=float("nan"), laplacian=float("nan"), local_minima=0)
    inner = values[1:-1, 1:-1]
    laplacian = values[1:-1, 2:] + values[1:-1, :-2] + values[2:, 1:-1] + values[:-2, 1:-1] - 4 * inner
    span = float(values.max() - values.min())
    scale = (values.shape[0] - 1) * (values.shape[1] - 1) / span if span > 0 else 0.0
    return Smoothness(
        roughness=float((laplacian - laplacian.mean()).abs().mean()) * scale,
        laplacian=float(laplacian.abs().mean()) * scale,
        local_minima=count_local_minima(values),
    )


def count_local_minima(values: Tensor) -> int:
    """Interior points of an ``R x R`` grid strictly lower than all 8 neighbours."""
    inner = values[1:-1, 1:-1]
    rows, cols = inner.shape
    is_minimum = torch.ones_like(inner, dtype=torch.bool)
    for row_shift in (-1, 0, 1):
        for col_shift in (-1, 0, 1):
            if row_shift or col_shift:
                neighbour = values[1 + row_shift : 1 + row_shift + rows, 1 + col_shift : 1 + col_shift + cols]
                is_minimum &= inner < neighbour
    return int(is_minimum.sum())


def surface_steps(
    forward: nn.Module,
    target: Tensor,
    trajectory: Tensor,
    trajectory_losses: Tensor,
    plane: Plane,
    *,
    mapping: nn.Module | None = None,
    weight: Tensor | None = None,
    config: LandscapeConfig | None = None,
) -> Iterator[LandscapeProgress]:
    """Evaluate the ``grid x grid`` surface of one target around the end of its ``(T+1) x D`` trajectory.

    target: ``1 x output_shape``; weight: its mask (batch 1) or None. Yields a "grid" progress report
    per forward pass; the last report carries the :class:`Surface`.
    """
    config = config or LandscapeConfig()
    started = time.perf_counter()
    center = trajectory[-1]
    directions = plane.directions.to(center.dtype)
    radius = config.radius * plane.reach
    coords = torch.linspace(-radius, radius, config.grid, dtype=center.dtype)
    latents = torch.cat([plane_points(center, directions, coords), trajectory])
    total = math.ceil(len(latents) / config.chunk)
    parts = []
    for part in batched_losses(
        forward,
        target,
        latents,
        mapping=mapping,
        weight=weight,
        loss=config.loss,
        chunk=config.chunk,
    ):
        parts.append(part)
        if len(parts) < total:
            yield LandscapeProgress(stage="grid", done=len(parts), total=total)
    losses = torch.cat(parts)
    grid_losses = losses[: config.grid**2].reshape(config.grid, config.grid)
    surface = Surface(
        space=space_of(mapping),
        coords=coords.cpu(),
        losses=grid_losses,
        trajectory=project(trajectory, center, directions).float().cpu(),
        trajectory_losses=trajectory_losses.cpu(),
        trajectory_plane_losses=losses[config.grid**2 :],
        center=center.cpu(),
        plane=plane,
        radius=radius,
        smoothness=smoothness(grid_losses),
        seconds=time.perf_counter() - started,
    )
    yield LandscapeProgress(stage="grid", done=total, total=total, surface=surface)


def compute_surface(*args, **options) -> Surface:
    """:func:`surface_steps` run to the end: the :class:`Surface`."""
    for progress in surface_steps(*args, **options):
        pass
    return progress.surface


def explore(
    forward: nn.Module,
    targets: Tensor,
    *,
    index: int = 0,
    mapping: nn.Module | None = None,
    weight: Tensor | None = None,
    config: LandscapeConfig | None = None,
) -> Iterator[LandscapeProgress]:
    """The whole recipe for one space: collect latents on ``B`` targets, PCA, and the surface of target
    ``index``. targets: ``B x output_shape``; weight: masks (batch ``B`` or 1, 0 = unknown) or None.

    Yields an "optimise" report per inversion step (``T+1``), then a "grid" report per forward pass;
    the last report carries the :class:`Surface`.
    """
    config = config or LandscapeConfig()
    if not 0 <= index < targets.shape[0]:
        raise ValueError(f"target index {index} out of range for {targets.shape[0]} targets")
    steps = collect_steps(forward, targets, mapping=mapping, weight=weight, config=config)
    done_steps = 0
    while True:
        try:
            next(steps)
        except StopIteration as finished:
            trajectories = finished.value
            break
        done_steps += 1
        yield LandscapeProgress(stage="optimise", done=done_steps, total=config.steps + 1)
    plane = principal_plane(trajectories.latents)
    yield from surface_steps(
        forward,
        targets[index : index + 1],
        trajectories.latents[index],
        trajectories.losses[index],
        plane,
        mapping=mapping,
        weight=target_weight(weight, index),
        config=config,
    )


@dataclass(frozen=True)
class OverlayPath:
    """Another optimiser's path drawn on a surface it did not make (e.g. Z→X on X's surface). Tensors on the CPU.

    trajectory: ``(T+1) x 2`` coordinates on the surface's plane (not ending at the centre: the path ends
    where its own optimiser went); trajectory_losses: ``T+1`` losses it saw; trajectory_plane_losses: the
    surface's losses at the projected points."""

    trajectory: Tensor
    trajectory_losses: Tensor
    trajectory_plane_losses: Tensor

    def to_plain(self) -> dict:
        return {name: getattr(self, name).tolist() for name in ("trajectory", "trajectory_losses", "trajectory_plane_losses")}  # fmt: skip


def handoff_path(
    forward: nn.Module,
    target: Tensor,
    surface: Surface,
    *,
    mapping: nn.Module,
    handoff: int,
    handoff_lr: float | None = None,
    weight: Tensor | None = None,
    config: LandscapeConfig | None = None,
) -> OverlayPath:
    """The Z→X path of one ``1 x output_shape`` target on an X-space ``surface``: ``config.steps`` steps of
    :func:`invert` with ``handoff`` (Z-space first, ``x = Θ(z)``, then X-space from ``Θ(z_k)`` at ``handoff_lr``,
    default ``config.lr``), every visited ``x`` projected onto the surface's plane and the surface's loss
    evaluated there (one batch)."""
    if surface.space != "x":
        raise ValueError(f"the Z→X path is drawn in X-space: got a {surface.space!r} surface")
    config = config or LandscapeConfig()
    visited, losses = [], []
    for step in invert(
        forward,
        target,
        mapping=mapping,
        weight=weight,
        loss=config.loss,
        optimizer=config.optimizer,
        lr=config.lr,
        steps=config.steps,
        handoff=handoff,
        handoff_lr=handoff_lr,
        seed=config.seed,
        keep_output=False,
    ):
        visited.append(step.x[0])
        losses.append(step.losses[0])
    directions = surface.plane.directions.to(surface.center.dtype)
    coords = project(torch.stack(visited), surface.center, directions).to(surface.center.dtype)
    on_plane = surface.center + coords @ directions
    options = dict(weight=weight, loss=config.loss, chunk=config.chunk)
    plane_losses = torch.cat(list(batched_losses(forward, target, on_plane, **options)))
    return OverlayPath(trajectory=coords.float().cpu(), trajectory_losses=torch.stack(losses).cpu(), trajectory_plane_losses=plane_losses)  # fmt: skip
