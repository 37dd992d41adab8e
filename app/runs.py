"""X-space, Z-space and Z→X (hand-off) inversion advanced in lockstep, as a stream of display frames.

The three optimisers run through :func:`engines.core.optim.invert_spaces`: one batch of F per step.

No Gradio here: :func:`stream_run` yields plain :class:`Frame` objects (PIL images,
numbers, a plotly figure now and then) that the UI turns into component updates,
so tests can drive a whole run without a browser.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import plotly.graph_objects as go
import torch
from PIL import Image
from torch import nn

from app.domain import domain_notice, target_has_face
from app.figures import loss_figure
from app.gpu import gpu, on_zero_gpu
from app.story import comparison
from app.targets import Target, aligns_faces
from engines.core.device import default_device, is_out_of_memory, release_cached_memory
from engines.core.losses import LOSSES, resolve_loss_name
from engines.core.mapping import MappingConfig, MappingNetwork
from engines.core.optim import OPTIMIZERS, Space, Step, invert_spaces
from engines.io.images import tensor_to_image
from engines.models.faces.last_stage import last_stage_steps
from engines.models.registry import available_models, load_encoder, load_mapping, load_model

logger = logging.getLogger(__name__)

MAX_STEPS = 2000
MAX_HYPOTHESES = 32
MAX_ABS_INPUT = 1e4  # |x| or |z| beyond this: the optimiser has run away
EXPLODE_FACTOR = 1e3  # loss this many times its starting value: diverged
DEFAULT_Z_LR = 0.1
DEFAULT_HANDOFF = 5  # RunSettings' default; the tabs pass the model's own (default_handoff)
SPACES = ("X", "Z", "Z→X")
# Steps of the feature-map stage after a Run on a face model. 100 steps of MSE + LPIPS on one 64×64 face
# took 1.7 s on one loaded CPU thread (0.34 s with MSE), so it runs by itself once Z→X is done.
FINAL_STEPS = 100


def default_lrs(model: str, optimizer: str) -> tuple[float, float]:
    """The X- and Z-space learning rates the inversion benchmark chose for ``model`` and ``optimizer``."""
    from engines.core.evaluation import inversion_defaults

    defaults = inversion_defaults(model, optimizer)
    return float(defaults.x_lr), float(defaults.z_lr)


def default_handoff(model: str) -> int:
    """Z→X's hand-off step for ``model``: its saved choice (``assets/<model>_defaults.json``), else the fallback.

    The hand-off learning rate is the X-space one (see :func:`default_lrs`): Z→X continues as X does."""
    from engines.core.evaluation import inversion_defaults

    return int(inversion_defaults(model).handoff)


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """What one Run does; validated so that bad UI input becomes a clear ``ValueError``."""

    model: str
    optimizer: str = "adam"
    steps: int = 100
    lr_x: float = 0.1
    lr_z: float = DEFAULT_Z_LR
    loss: str = "mse"
    num_hypotheses: int = 1
    z_init: str = "zeros"
    seed: int = 0
    handoff: int = DEFAULT_HANDOFF  # Z→X: Z steps before the switch to X-space (at lr_x)

    def __post_init__(self) -> None:
        if self.model not in available_models("image"):
            raise ValueError(f"model {self.model!r} is not available; present: {available_models('image')}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimiser {self.optimizer!r}; choose from {OPTIMIZERS}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose from {sorted(LOSSES)}")
        if not (isinstance(self.steps, int) and 1 <= self.steps <= MAX_STEPS):
            raise ValueError(f"steps must be a whole number from 1 to {MAX_STEPS}, got {self.steps!r}")
        if not (isinstance(self.num_hypotheses, int) and 1 <= self.num_hypotheses <= MAX_HYPOTHESES):
            raise ValueError(f"hypotheses must be from 1 to {MAX_HYPOTHESES}, got {self.num_hypotheses!r}")
        if not (isinstance(self.handoff, int) and 0 <= self.handoff <= MAX_STEPS):
            raise ValueError(f"the hand-off step must be a whole number from 0 to {MAX_STEPS}, got {self.handoff!r}")
        for name in ("lr_x", "lr_z"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"the {name[-1].upper()}-space learning rate must be a positive number, got {value!r}")


@dataclass(frozen=True)
class Frame:
    """One side-by-side step for display: X, Z and Z→X. ``figure`` and the galleries are None when unchanged."""

    step: int
    steps: int
    x_image: Image.Image
    z_image: Image.Image
    x_loss: float
    z_loss: float
    status: str
    figure: go.Figure | None = None
    x_gallery: list[tuple[Image.Image, str]] | None = None
    z_gallery: list[tuple[Image.Image, str]] | None = None
    done: bool = False
    tag: str = ""
    target: str = ""  # the target's fingerprint: for clients checking they got their own run, never shown
    zx_image: Image.Image | None = None
    zx_loss: float = math.nan
    zx_gallery: list[tuple[Image.Image, str]] | None = None
    zx_space: str = "z"  # where Z→X is at this step: "z" before the hand-off, "x" after
    zx_latent: torch.Tensor | None = None  # the best Z→X input ``1 x D`` (CPU), on a finished run's last frame only
    latents: tuple[torch.Tensor, ...] | None = None  # each pane's best generator input ``1 x D`` (X, Z, Z→X), same

    @property
    def images(self) -> tuple[Image.Image, ...]:
        """The panes in :data:`SPACES` order."""
        return self.x_image, self.z_image, self.zx_image

    @property
    def losses(self) -> tuple[float, float, float]:
        return self.x_loss, self.z_loss, self.zx_loss


@functools.cache
def _random_mapping(name: str, dim: int, device: str = "cpu") -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        mapping = MappingNetwork(MappingConfig(z_dim=dim, x_dim=dim, hidden=256))
    return mapping.eval().requires_grad_(False).to(device)


def get_mapping(name: str, device: torch.device | str = "cpu") -> tuple[nn.Module, str]:
    """Θ for ``name`` on ``device`` and a note; a seeded random Θ, clearly labelled, while none is trained."""
    try:
        return load_mapping(name, device), ""
    except (FileNotFoundError, ValueError) as error:
        logger.info("no trained mapping for %s: %s", name, error)
        note = "⚠ Θ not trained yet: Z-space uses a random, untrained Θ"
        return _random_mapping(name, load_model(name).input_dim, str(device)), note


def divergence(step: Step, start_loss: float) -> str | None:
    """Why a step counts as diverged (non-finite, exploding loss, runaway input), or None."""
    if not (step.finite and torch.isfinite(step.x).all() and torch.isfinite(step.z).all()):
        return "the loss or the input became NaN/infinite"
    if float(step.losses.max()) > EXPLODE_FACTOR * max(start_loss, 1e-6):
        return f"the loss exploded ({float(step.losses.max()):.3g})"
    if float(step.x.abs().max()) > MAX_ABS_INPUT or float(step.z.abs().max()) > MAX_ABS_INPUT:
        return f"the input ran away (|x| or |z| > {MAX_ABS_INPUT:g})"
    return None


class DivergenceGuard:
    """One divergence check for every tab: feed it each lockstep tuple of steps (X, Z and, where run, Z→X).

    The first tuple sets each space's starting loss; :meth:`check` then returns a message naming
    the space, the step and why (see :func:`divergence`), or None while every space is sound.
    """

    def __init__(self, spaces: tuple[str, ...] = ("X", "Z")) -> None:
        self.spaces = spaces
        self.start_losses: tuple[float, ...] | None = None

    def check(self, steps: tuple[Step, ...]) -> str | None:
        if self.start_losses is None:
            self.start_losses = tuple(float(step.losses.max()) for step in steps)
        problems = [(space, step.index, divergence(step, start)) for space, step, start in zip(self.spaces, steps, self.start_losses)]  # fmt: skip
        problems = [f"{space}-space diverged at step {index}: {why}" for space, index, why in problems if why]
        return "⚠ " + "; ".join(problems) + ". Try a smaller learning rate." if problems else None


def gallery(step: Step) -> list[tuple[Image.Image, str]]:
    """Every hypothesis of a step as (image, caption)."""
    losses = step.losses.tolist()
    return [(tensor_to_image(output), f"#{k} {losses[k]:.4f}") for k, output in enumerate(step.output.cpu())]


@dataclass
class _Throttle:
    interval: float
    last: float = field(default=-math.inf)

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            return True
        return False


def _frame(steps: tuple[Step, ...], history: tuple[list, ...], status: str, *, refresh: bool, done: bool = False, tag: str = "", target: str = "", handoff: int | None = None) -> Frame:  # fmt: skip
    """Display frame of a lockstep X, Z, Z→X triple: the best hypothesis of each space in the panes."""
    best = [int(step.losses.argmin()) for step in steps]
    images = [tensor_to_image(step.output[k].cpu()) for step, k in zip(steps, best)]  # only what is shown leaves the device  # fmt: skip
    losses = [float(step.losses[k]) for step, k in zip(steps, best)]
    multiple = steps[0].losses.numel() > 1
    galleries = [gallery(step) if refresh and multiple else None for step in steps]
    title = "best loss vs step" if multiple else "loss vs step"
    return Frame(
        step=steps[0].index,
        steps=len(history[0]),
        x_image=images[0],
        z_image=images[1],
        x_loss=losses[0],
        z_loss=losses[1],
        status=status,
        figure=loss_figure(*history, title=title, handoff=handoff) if refresh else None,
        x_gallery=galleries[0],
        z_gallery=galleries[1],
        done=done,
        tag=tag,
        target=target,
        zx_image=images[2],
        zx_loss=losses[2],
        zx_gallery=galleries[2],
        zx_space=steps[2].space,
    )


def start_runs(target: Target, settings: RunSettings) -> tuple[Iterator[tuple[Step, ...]], str]:
    """The X, Z and Z→X steps of one run (one batch of F per step), and a note about Θ / the loss."""
    device = default_device()
    model = load_model(settings.model, device)
    mapping, note = get_mapping(settings.model, device)
    if settings.loss != resolve_loss_name(settings.loss):
        note += " ⚠ LPIPS is unavailable offline: using pixel MSE"
    spaces = [
        Space(mapping=None, lr=settings.lr_x),
        Space(mapping=mapping, lr=settings.lr_z),
        Space(mapping=mapping, lr=settings.lr_z, handoff=settings.handoff, handoff_lr=settings.lr_x),
    ]
    runs = invert_spaces(
        model,
        target.image,
        spaces,
        weight=target.weight,
        loss=settings.loss,
        optimizer=settings.optimizer,
        steps=settings.steps,
        num_hypotheses=settings.num_hypotheses,
        z_init=settings.z_init,
        seed=settings.seed,
        keep_on_device=True,
    )
    return runs, note.strip()


def stream_run(target: Target, settings: RunSettings, stop: threading.Event, *, refresh_seconds: float = 0.5) -> Iterator[Frame]:  # fmt: skip
    """Advance X, Z and Z→X one step at a time; yield a frame per step until done, stopped or diverged.

    ``stop`` is checked before every step. The chart and galleries refresh at most every
    ``refresh_seconds`` and on the last frame. A diverged step is never shown: the last good
    frame is repeated with the message. The steps themselves run in :func:`device_frames`.
    """
    frames = device_frames(target, settings, refresh_seconds)
    history: tuple[list, ...] = ([], [], [])
    last = None
    try:
        while not stop.is_set() and (frame := next(frames, None)) is not None:
            if frame.step == 0:  # a fresh start (also after an out-of-memory retry)
                history = ([], [], [])
            for curve, loss in zip(history, frame.losses):
                curve.append(loss)
            last = frame
            yield frame
    finally:
        frames.close()
    if last is not None and not last.done:
        status = _joined(f"Stopped at step {last.step}/{settings.steps}", last.tag)
        status = "  \n".join(line for line in (status, comparison(*history)) if line)
        figure = loss_figure(*history, handoff=settings.handoff)
        yield replace(last, status=status, figure=figure, done=True, x_gallery=None, z_gallery=None, zx_gallery=None)


@gpu
def device_frames(target: Target, settings: RunSettings, refresh_seconds: float = 0.5) -> Iterator[Frame]:
    """The frames of a run to its end, computed on the app's device (on ZeroGPU: in the GPU worker).

    When the device runs out of memory, the run starts again with half the hypotheses and says
    so; with a single hypothesis it ends with a ``ValueError`` that the page shows.
    """
    notice = ""
    while True:
        try:
            yield from _frames(target, settings, refresh_seconds, notice)
            return
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            release_cached_memory()
            hypotheses = settings.num_hypotheses
            if hypotheses == 1:
                raise ValueError("the GPU ran out of memory even with one hypothesis; try a smaller model") from error
            settings = replace(settings, num_hypotheses=(hypotheses + 1) // 2)
            notice = f"⚠ GPU out of memory with {hypotheses} hypotheses: running {settings.num_hypotheses}"
            logger.warning("%s", notice)


def _frames(target: Target, settings: RunSettings, refresh_seconds: float, notice: str) -> Iterator[Frame]:
    """One attempt of :func:`device_frames`: a frame per step until done or diverged."""
    runs, note = start_runs(target, settings)
    history: tuple[list, ...] = ([], [], [])
    refresh = _Throttle(refresh_seconds)
    tag = " · ".join(part for part in (note, notice) if part)
    last: tuple[Step, ...] | None = None
    guard = DivergenceGuard(SPACES)
    frame = functools.partial(_frame, tag=tag, target=target.fingerprint, handoff=settings.handoff)
    for steps in runs:
        if message := guard.check(steps):
            if last is None:
                raise ValueError(message)
            yield frame(last, history, _joined(message, tag), refresh=True, done=True)
            return
        last = steps
        for curve, step in zip(history, steps):
            curve.append(float(step.losses.min()))
        status = _joined(f"Running · step {steps[0].index}/{settings.steps}", tag)
        yield frame(steps, history, status, refresh=refresh.due())
    if last is not None:
        status = _joined(f"Done at step {last[0].index}/{settings.steps}", tag)
        finals = [curve[-1] for curve in history]
        face = target_has_face(settings.model, target.image, target.weight)
        notice = domain_notice(settings.model, resolve_loss_name(settings.loss), last[0].index, finals[0], min(finals[1:]), face=face)  # fmt: skip
        status = "  \n".join(line for line in (status, comparison(*history), notice) if line)
        best = int(last[2].losses.argmin())
        latents = tuple(step.x[int(step.losses.argmin())][None].detach().cpu() for step in last)
        yield replace(
            frame(last, history, status, refresh=True, done=True),
            zx_latent=last[2].x[best : best + 1].cpu(),
            latents=latents,
        )


def _joined(*parts: str) -> str:
    return " · ".join(part for part in parts if part)


def encoder_result(target: Target, model_name: str, loss: str) -> tuple[Image.Image, float] | None:
    """The feed-forward baseline: F(E(target)) as an image and its loss on the known pixels, or None
    when ``model_name`` ships no encoder (one forward pass, no steps)."""
    try:
        device = default_device()
        forward, encoder = load_model(model_name, device), load_encoder(model_name, device)
    except (FileNotFoundError, ValueError):
        return None
    with torch.no_grad():
        image = target.image.to(device)
        output = forward(encoder(image))
        value = LOSSES[resolve_loss_name(loss)](output, image, target.weight.to(device))
    return tensor_to_image(output[0].cpu()), float(value[0])


@dataclass(frozen=True)
class FinalStage:
    """The feature-map stage's result: its image, loss on the known pixels, steps and wall-clock seconds."""

    image: Image.Image
    loss: float
    steps: int
    seconds: float


def has_final_stage(model_name: str) -> bool:
    """Whether a Run on ``model_name`` ends with the feature-map stage (face generators only)."""
    try:
        return aligns_faces(model_name)
    except (FileNotFoundError, ValueError):
        return False


@gpu
def final_stage(target: Target, model_name: str, latent: torch.Tensor, loss: str, steps: int = FINAL_STEPS) -> FinalStage:  # fmt: skip
    """The last stage of :mod:`engines.models.faces.last_stage` from the Z→X input ``latent`` (``1 x D``):
    ``steps`` steps in the frozen generator's 16×16 feature map, pulled towards Z→X's own features."""
    device = default_device()
    generator = load_model(model_name, device)
    start, last = time.monotonic(), None
    for last in last_stage_steps(
        generator, target.image.to(device), latent.to(device), steps=steps, loss=resolve_loss_name(loss),
        weight=target.weight.to(device), keep_output=lambda index: index == steps,
    ):  # fmt: skip
        pass
    image = tensor_to_image(last.output[0].cpu())
    return FinalStage(image=image, loss=float(last.losses[0]), steps=steps, seconds=time.monotonic() - start)


def warm_up(model_name: str) -> None:
    """Load F and Θ and run one tiny step (torch autograd, plotly templates) so the first Run streams at once.

    Skipped on ZeroGPU, where no GPU is attached at start-up."""
    if on_zero_gpu():
        return
    model = load_model(model_name)
    target = Target(image=torch.zeros(1, *model.output_shape), weight=torch.ones(1, 1, 1, 1), fingerprint="warm-up")
    for _ in stream_run(
        target,
        RunSettings(model=model_name, steps=1, loss=resolve_loss_name("mse+lpips")),
        threading.Event(),
        refresh_seconds=0.0,
    ):
        pass
