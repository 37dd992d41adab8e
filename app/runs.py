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
from app.learn_runs import chosen_mapping
from app.story import comparison, masked_comparison
from app.targets import Target
from engines.core.device import default_device, is_out_of_memory, release_cached_memory
from engines.core.losses import LOSSES, resolve_loss_name
from engines.core.mapping import random_mapping
from engines.core.masked import hidden_mse, hidden_spread
from engines.core.optim import OPTIMIZERS, Space, Step, invert_spaces
from engines.io.images import image_to_tensor, tensor_to_image
from engines.models.faces.last_stage import LastStage, face_in_target, last_stage_steps
from engines.models.registry import available_models, load_encoder, load_mapping, load_model

logger = logging.getLogger(__name__)

MAX_STEPS = 2000
MAX_HYPOTHESES = 32
MAX_ABS_INPUT = 1e4  # |x| or |z| beyond this: the optimiser has run away
EXPLODE_FACTOR = 1e3  # loss this many times its starting value: diverged
DEFAULT_Z_LR = 0.1
DEFAULT_HANDOFF = 5  # RunSettings' default; the tabs pass the model's own (default_handoff)
SPACES = ("X", "Z", "Z→X")
# "Refine past the generator" (a face model's last stage, off by default): it branches off Z→X at step
# ``steps - share·steps`` and ends at the run's last step, so the Final pane has the run's step budget
# like X, Z and Z→X. 100 steps of MSE + LPIPS on one 64×64 face took 1.7 s on one loaded CPU thread.
LAST_STAGE = LastStage()
NOT_REFINED = (
    "Refine past the generator: not run, the face detector finds no face in the target (the last stage would "
    "fit almost any image, so it only refines faces)"
)


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
    refine: bool = False  # face models: the last stage ("Refine past the generator") within the step budget
    theta: str = ""  # a Θ this session learned or uploaded (app.learn_runs.theta_key); "" = the shipped Θ

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
        if not isinstance(self.refine, bool):
            raise ValueError(f"refine must be true or false, got {self.refine!r}")
        for name in ("lr_x", "lr_z"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"the {name[-1].upper()}-space learning rate must be a positive number, got {value!r}")

    def final_split(self) -> tuple[int, int]:
        """(the Z→X step the last stage starts from, its steps): ``(steps, 0)`` unless ``refine`` is on."""
        return LAST_STAGE.split(self.steps) if self.refine else (self.steps, 0)


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
    # the best Z→X input ``1 x D`` (CPU) where the last stage starts (``RunSettings.final_split``), on a finished
    # run's last frame only
    zx_latent: torch.Tensor | None = None
    gallery_notes: tuple[str, ...] | None = None  # with the galleries: each space's spread and hidden error
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
    return random_mapping(dim, seed=0).to(device)


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


def gallery(step: Step, target: Target | None = None) -> list[tuple[Image.Image, str]]:
    """Every hypothesis of a step as (image, caption), sorted by visible loss (best first); with a ``target``
    whose hidden pixels' truth is known, each caption adds that hypothesis' pixel MSE on them."""
    losses = step.losses.tolist()
    outputs = step.output.cpu()
    hidden = None
    if target is not None and not target.unknown_truth and bool((target.weight == 0).any()):
        hidden = hidden_mse(outputs.float(), target.image, target.weight, len(outputs))[0].tolist()
    order = sorted(range(len(losses)), key=losses.__getitem__)
    return [
        (tensor_to_image(outputs[k]), f"#{k} loss {losses[k]:.4f}" + (f" · hidden {hidden[k]:.4f}" if hidden else ""))
        for k in order
    ]


def gallery_note(step: Step, target: Target) -> str:
    """Under a space's gallery: the spread of its K results on the hidden pixels, and, when their truth is
    known, the best of the K's pixel MSE there ("" when nothing is hidden)."""
    weight, outputs = target.weight, step.output.float()
    if not bool((weight == 0).any()):
        return ""
    note = f"spread under the mask {float(hidden_spread(outputs, weight, len(outputs)).mean()):.3f}"
    if not target.unknown_truth:
        note += f" · best-of-{len(outputs)} hidden error {float(hidden_mse(outputs, target.image, weight, len(outputs)).min()):.4f}"  # fmt: skip
    return note


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


def _frame(steps: tuple[Step, ...], history: tuple[list, ...], status: str, *, refresh: bool, done: bool = False, tag: str = "", target: str = "", handoff: int | None = None, scored: Target | None = None) -> Frame:  # fmt: skip
    """Display frame of a lockstep X, Z, Z→X triple: the best hypothesis of each space in the panes."""
    best = [int(step.losses.argmin()) for step in steps]
    images = [tensor_to_image(step.output[k].cpu()) for step, k in zip(steps, best)]  # only what is shown leaves the device  # fmt: skip
    losses = [float(step.losses[k]) for step, k in zip(steps, best)]
    multiple = steps[0].losses.numel() > 1
    galleries = [gallery(step, scored) if refresh and multiple else None for step in steps]
    notes = tuple(gallery_note(step, scored) for step in steps) if refresh and multiple and scored else None
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
        gallery_notes=notes,
    )


def three_spaces(mapping, lr_x: float, lr_z: float, handoff: int, pull=None) -> list[Space]:
    """X (``x`` optimised directly), Z (``x = Θ(z)``) and Z→X (``handoff`` Z steps, then X at X's lr).
    pull: for masked targets, the prior pull of X and of Z→X after its hand-off (see :func:`masked_pull`)."""
    return [
        Space(mapping=None, lr=lr_x, penalty=pull),
        Space(mapping=mapping, lr=lr_z),
        Space(mapping=mapping, lr=lr_z, handoff=handoff, handoff_lr=lr_x, handoff_penalty=pull),
    ]


def masked_pull(model: str, optimizer: str, weight: torch.Tensor | None):
    """The model's default rule for a target with a hidden part (``weight`` has a 0): a pull of F's input
    towards its prior (``assets/<model>_defaults.json``, chosen on training data); None when nothing is
    hidden (``weight`` None or all known) or the model has no such rule."""
    from engines.core.evaluation import inversion_defaults
    from engines.core.masked import prior_penalty

    if weight is None or not bool((weight == 0).any()):
        return None
    defaults = inversion_defaults(model, optimizer)
    return prior_penalty(defaults.masked_prior_weight, defaults.masked_prior_kind)


def start_runs(target: Target, settings: RunSettings) -> tuple[Iterator[tuple[Step, ...]], str]:
    """The X, Z and Z→X steps of one run (one batch of F per step), and a note about Θ / the loss."""
    device = default_device()
    model = load_model(settings.model, device)
    mapping, note = chosen_mapping(settings.theta, settings.model, device) or get_mapping(settings.model, device)
    if settings.loss != resolve_loss_name(settings.loss):
        note += " ⚠ LPIPS is unavailable offline: using pixel MSE"
    pull = masked_pull(settings.model, settings.optimizer, target.weight)
    spaces = three_spaces(mapping, settings.lr_x, settings.lr_z, settings.handoff, pull)
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


def masked_handoff(settings: RunSettings, target: Target) -> tuple[RunSettings, str]:
    """The model's rule for masked targets (``assets/<model>_defaults.json``, chosen on training data): with
    part of ``target`` hidden and the default hand-off asked for, Z→X may stay in Z-space (its hand-off moved
    to the last step). Returns the settings to run and a note saying so ("" when unchanged)."""
    from engines.core.evaluation import inversion_defaults

    defaults = inversion_defaults(settings.model, settings.optimizer)
    chosen = defaults.handoff_for(masked=bool((target.weight == 0).any()), steps=settings.steps)
    if settings.handoff != defaults.handoff or chosen == settings.handoff:
        return settings, ""
    note = "Z→X stays in Z-space (no hand-off), the default when part of the target is hidden"
    return replace(settings, handoff=chosen), note


def stream_run(target: Target, settings: RunSettings, stop: threading.Event, *, refresh_seconds: float = 0.5, note: str = "") -> Iterator[Frame]:  # fmt: skip
    """Advance X, Z and Z→X one step at a time; yield a frame per step until done, stopped or diverged.

    ``stop`` is checked before every step. The chart and galleries refresh at most every
    ``refresh_seconds`` and on the last frame. A diverged step is never shown: the last good
    frame is repeated with the message. The steps themselves run in :func:`device_frames`.
    """
    frames = device_frames(target, settings, refresh_seconds, note)
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
        images = torch.stack([image_to_tensor(image)[None] for image in last.images])  # the best of each space
        story = verdict(target, history, images, k=1)
        status = "  \n".join(line for line in (status, story) if line)
        figure = loss_figure(*history, handoff=settings.handoff)
        yield replace(last, status=status, figure=figure, done=True, x_gallery=None, z_gallery=None, zx_gallery=None)


@gpu
def device_frames(target: Target, settings: RunSettings, refresh_seconds: float = 0.5, note: str = "") -> Iterator[Frame]:  # fmt: skip
    """The frames of a run to its end, computed on the app's device (on ZeroGPU: in the GPU worker).

    When the device runs out of memory, the run starts again with half the hypotheses and says
    so; with a single hypothesis it ends with a ``ValueError`` that the page shows.
    """
    notice = note
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
            notice = _joined(
                note, f"⚠ GPU out of memory with {hypotheses} hypotheses: running {settings.num_hypotheses}"
            )
            logger.warning("%s", notice)


def _frames(target: Target, settings: RunSettings, refresh_seconds: float, notice: str) -> Iterator[Frame]:
    """One attempt of :func:`device_frames`: a frame per step until done or diverged."""
    runs, note = start_runs(target, settings)
    history: tuple[list, ...] = ([], [], [])
    refresh = _Throttle(refresh_seconds)
    tag = " · ".join(part for part in (note, notice) if part)
    last: tuple[Step, ...] | None = None
    guard = DivergenceGuard(SPACES)
    frame = functools.partial(_frame, tag=tag, target=target.fingerprint, handoff=settings.handoff, scored=target)
    split, start = settings.final_split()[0], None
    for steps in runs:
        if message := guard.check(steps):
            if last is None:
                raise ValueError(message)
            yield frame(last, history, _joined(message, tag), refresh=True, done=True)
            return
        last = steps
        if steps[2].index == split:  # where the last stage branches off Z→X (the end unless refine is on)
            start = steps[2].x[int(steps[2].losses.argmin())][None].cpu()
        for curve, step in zip(history, steps):
            curve.append(float(step.losses.min()))
        status = _joined(f"Running · step {steps[0].index}/{settings.steps}", tag)
        yield frame(steps, history, status, refresh=refresh.due())
    if last is not None:
        status = _joined(f"Done at step {last[0].index}/{settings.steps}", tag)
        finals = [curve[-1] for curve in history]
        face = target_has_face(settings.model, target.image, target.weight)
        notice = domain_notice(settings.model, resolve_loss_name(settings.loss), last[0].index, finals[0], min(finals[1:]), face=face)  # fmt: skip
        story = verdict(target, history, torch.stack([step.output for step in last]), k=settings.num_hypotheses)
        status = "  \n".join(line for line in (status, story, notice) if line)
        latents = tuple(step.x[int(step.losses.argmin())][None].detach().cpu() for step in last)  # for the edit panel
        yield replace(frame(last, history, status, refresh=True, done=True), zx_latent=start, latents=latents)


def hidden_figures(target: Target, outputs: torch.Tensor, k: int = 1) -> dict | None:
    """Per space (``x``, ``z``, ``zx``) the best of its K results' pixel MSE on the hidden pixels against the
    original; None when nothing is hidden or the truth there is unknown. outputs: ``S x K x C x H x W``."""
    if target.unknown_truth or not bool((target.weight == 0).any()):
        return None
    keys = ("x", "z", "zx")[: len(outputs)]
    return {key: float(hidden_mse(out.float(), target.image, target.weight, k).min()) for key, out in zip(keys, outputs)}  # fmt: skip


def verdict(target: Target, history: tuple, outputs: torch.Tensor, *, k: int, visible: str | None = None) -> str:
    """The run's sentence. Nothing hidden: :func:`app.story.comparison` of the curves. A hidden part whose
    truth is the target's own pixels (a preset on a whole image): the hidden pixels first (each space's best
    of its K results, pixel MSE against the original), the visible fit second; with K > 1 also the spread of
    the K results there. Painted-over pixels: truth unknown, so the visible fit and the spread only.
    visible: the visible-fit sentence (default :func:`app.story.comparison` of the curves).

    outputs: ``S x K x C x H x W`` (S spaces in :data:`SPACES` order) on any device."""
    weight = target.weight
    if not bool((weight == 0).any()):
        return comparison(*history) if visible is None else visible
    labels = SPACES[: len(outputs)]
    flat = [space_outputs.float() for space_outputs in outputs]
    diversity = {label: float(hidden_spread(out, weight, k).mean()) for label, out in zip(labels, flat)} if k > 1 else None  # fmt: skip
    if target.unknown_truth:
        return masked_comparison(history, hidden_errors=None, part="", unknown_reason=target.unknown_truth, diversity=diversity, visible=visible)  # fmt: skip
    errors = dict(zip(labels, hidden_figures(target, outputs, k).values()))
    part = "the hidden pixels" if k == 1 else f"the hidden pixels, best of the {k} hypotheses"
    return masked_comparison(history, hidden_errors=errors, part=part, diversity=diversity, unit="(pixel MSE)", visible=visible)  # fmt: skip


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
    """The last stage's result: its image, loss on the known pixels, steps, wall-clock seconds, the step of
    the run it started from and its loss at every step from there (``steps + 1`` values)."""

    image: Image.Image
    loss: float
    steps: int
    seconds: float
    first_step: int = 0
    curve: tuple[float, ...] = ()


def has_final_stage(model_name: str) -> bool:
    """Whether a Run on ``model_name`` may end with the feature-map stage (faces64's generator only)."""
    from engines.models.faces.model import FaceGenerator

    try:
        return isinstance(load_model(model_name), FaceGenerator)
    except (FileNotFoundError, ValueError):
        return False


def refines(target: Target) -> bool:
    """Whether "Refine past the generator" runs on ``target``: when the face detector finds a face in its
    pixels (the hidden ones included: a mask may cover the mouth)."""
    return face_in_target(target.image)


def last_stage_result(target: Target, model_name: str, latent: torch.Tensor, loss: str, steps: int, first_step: int = 0) -> FinalStage:  # fmt: skip
    """The last stage of :mod:`engines.models.faces.last_stage` (:data:`LAST_STAGE`) from the Z→X input
    ``latent`` (``1 x D``, Z→X at step ``first_step``): ``steps`` steps in the frozen generator's feature map,
    pulled towards Z→X's own features there."""
    device = default_device()
    generator = load_model(model_name, device)
    start, last, curve = time.monotonic(), None, []
    for last in last_stage_steps(
        generator, target.image.to(device), latent.to(device), last=LAST_STAGE, steps=steps,
        first_index=first_step, loss=resolve_loss_name(loss), weight=target.weight.to(device),
        keep_output=lambda index: index == first_step + steps,
    ):  # fmt: skip
        curve.append(float(last.losses[0]))
    image = tensor_to_image(last.output[0].cpu())
    seconds = time.monotonic() - start
    return FinalStage(image=image, loss=curve[-1], steps=steps, seconds=seconds, first_step=first_step, curve=tuple(curve))  # fmt: skip


final_stage = gpu(last_stage_result)  # the page's call (on ZeroGPU in the GPU worker; the API's run is inside one)

FULL_LABELS = ("X", "Z", "Z→X")


def renders_full(model_name: str) -> bool:
    """Whether ``model_name`` can draw its inputs with a larger network (the FFHQ models: 1024²)."""
    try:
        return callable(getattr(load_model(model_name), "render_full", None))
    except (FileNotFoundError, ValueError):
        return False


def full_renders(model_name: str, latents: tuple[torch.Tensor, ...]) -> list[Image.Image]:
    """Each pane's final input (``1 x D``, X, Z, Z→X) drawn by the model's full network (1024² RGB), once,
    off the streaming path (about a second each on 2 CPU cores)."""
    model = load_model(model_name, default_device())
    with torch.no_grad():
        images = model.render_full(torch.cat(latents).to(default_device()))
    return [tensor_to_image(image.clamp(-1, 1).cpu()) for image in images]


full_render = gpu(full_renders)


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
