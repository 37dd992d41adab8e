"""Landscape learning for the "Learn Θ" tab and the ``/learn`` API, as a stream of plain frames (no Gradio).

One job: Algorithm 1 (:func:`engines.core.learning.learn_rounds`, the model's live recipe from
:mod:`engines.train.live`) for a time budget, and after every round, outside that budget, a probe
of the current Θ on a small validation batch (Z@2/20/200, Z→X, against X), the Z loss landscape
of one validation target, and Z's reconstructions of four targets after 2 and 20 steps.

At most one job learns at a time on the whole server (:class:`LearnLine`): the others wait in line
and see their place; each may leave (Stop, a closed tab). A learned Θ belongs to the session that
learned (or uploaded) it (:class:`SessionMappings`): other sessions and the shipped asset never see it.
"""

from __future__ import annotations

import collections
import json
import math
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor, nn

from engines.core.landscape import LandscapeConfig, explore
from engines.core.learning import ProbeSettings, as_module, learn_rounds, probe_mapping
from engines.core.mapping import MappingNetwork, load_mapping_file, save_mapping_file
from engines.core.trainer import MappingTrainer
from engines.io.images import tensor_to_image
from engines.models.registry import load_model
from engines.train.live import STARTS, live_models, probe_settings, recipe, start_mapping, training_targets

MAX_SECONDS = 600  # ten minutes at most
DEFAULT_SECONDS = {"digits": 30, "pose32": 120, "faces64": 300}
MAX_OWN_TARGETS = 64
VALIDATION = 16  # validation targets probed per round
SHOWN = 4  # reconstructions shown
KEPT_SESSIONS = 32  # sessions whose learned Θ the server keeps (oldest dropped)
SAMPLES = Path(__file__).resolve().parent / "samples"
SLOW_MODELS = {"faces64": "⚠ faces64 learns slowly on a CPU: a round takes tens of seconds; give it minutes"}


@dataclass(frozen=True, kw_only=True)
class LearnSettings:
    """One learning job: which model, from which Θ, for how many seconds of learning."""

    model: str
    start: str = "random"
    seconds: float = 30.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in live_models():
            raise ValueError(f"Θ cannot be learned here for {self.model!r}; choose from {live_models()}")
        if self.start not in STARTS:
            raise ValueError(f"start must be one of {STARTS}, got {self.start!r}")
        if not (isinstance(self.seconds, (int, float)) and math.isfinite(self.seconds) and 1 <= self.seconds <= MAX_SECONDS):  # fmt: skip
            raise ValueError(f"the budget must be from 1 to {MAX_SECONDS} seconds, got {self.seconds!r}")


@dataclass(frozen=True)
class LearnFrame:
    """What the page shows after a round (round 0: before learning). Plain data only.

    probes: one :meth:`Probe.to_dict` per round so far, round 0 first. landscapes: the Z surface
    (:meth:`Surface.to_plain`) of validation target 0 at round 0 and now. reconstructions: per shown
    target, (target, Z after 2 steps, Z after 20 steps) as images (None for a pose model).
    place: > 0 while waiting in line (jobs ahead), 0 once learning.
    """

    status: str
    round: int = 0
    learning_seconds: float = 0.0
    budget: float = 0.0
    trajectory_loss: list[float] = field(default_factory=list)
    probes: list[dict] = field(default_factory=list)
    landscapes: tuple[dict | None, dict | None] = (None, None)
    reconstructions: list[tuple[Image.Image, Image.Image, Image.Image]] | None = None
    place: int = 0
    done: bool = False

    def figures(self) -> dict:
        """The per-round figures as JSON (the ``/learn`` answer; the tab's curves are drawn from them)."""
        return {"rounds": self.round, "seconds": self.learning_seconds, "trajectory_loss": self.trajectory_loss,
                "probe": self.probes}  # fmt: skip


@dataclass(frozen=True)
class LearnedTheta:
    """A Θ a session learned or uploaded: its model, weights (CPU) and what is known of it."""

    model: str
    mapping: MappingNetwork
    info: dict
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:12])  # names it in a run's settings (not the session)


class LearnLine:
    """One learning job at a time for the whole server; the rest wait in arrival order.

    A job that nobody advances any more (its page went away and the server stopped pulling its frames, so its
    ``finally`` never ran) would hold the slot for ever: a job at the head that has not called :meth:`alive`
    for ``stale_seconds`` is dropped from the line."""

    def __init__(self, stale_seconds: float = 300.0) -> None:
        self._changed = threading.Condition()
        self._line: list[object] = []
        self._seen: dict[int, float] = {}
        self.stale_seconds = stale_seconds

    def alive(self, ticket: object) -> None:
        """The job holding ``ticket`` is still being advanced (call it once per round)."""
        with self._changed:
            self._seen[id(ticket)] = time.monotonic()

    def wait(self, ticket: object, stop: threading.Event, poll: float = 0.5) -> Iterator[int]:
        """Join the line; yield the number of jobs ahead while waiting (none once it is ``ticket``'s turn).
        Returns early when ``stop`` is set (the caller still calls :meth:`leave`)."""
        with self._changed:
            self._line.append(ticket)
            self._seen[id(ticket)] = time.monotonic()
        while not stop.is_set():
            with self._changed:
                self._seen[id(ticket)] = time.monotonic()
                head = self._line[0]
                if head is not ticket and time.monotonic() - self._seen.get(id(head), 0.0) > self.stale_seconds:
                    self._line.pop(0)  # abandoned: its page is gone and nobody advances it
                    continue
                ahead = self._line.index(ticket)
                if ahead == 0:
                    return
                self._changed.wait(poll)
            yield ahead

    def leave(self, ticket: object) -> None:
        with self._changed:
            if ticket in self._line:
                self._line.remove(ticket)
            self._seen.pop(id(ticket), None)
            self._changed.notify_all()

    def __len__(self) -> int:
        with self._changed:
            return len(self._line)


class SessionMappings:
    """Θ per browser session: learned ones waiting for "Use this Θ", and the one in use. Never shared."""

    def __init__(self, kept: int = KEPT_SESSIONS) -> None:
        self._lock = threading.Lock()
        self._learned: collections.OrderedDict[str, LearnedTheta] = collections.OrderedDict()
        self._in_use: collections.OrderedDict[str, LearnedTheta] = collections.OrderedDict()
        self.kept = kept

    def _put(self, table: collections.OrderedDict, session: str, theta: LearnedTheta) -> None:
        with self._lock:
            table[session] = theta
            table.move_to_end(session)
            while len(table) > self.kept:
                table.popitem(last=False)

    def learned(self, session: str, theta: LearnedTheta) -> None:
        self._put(self._learned, session, theta)

    def last_learned(self, session: str) -> LearnedTheta | None:
        with self._lock:
            return self._learned.get(session)

    def use(self, session: str, theta: LearnedTheta) -> None:
        self._put(self._in_use, session, theta)

    def in_use(self, session: str, model: str) -> LearnedTheta | None:
        """The session's Θ for ``model``, or None (then the shipped Θ is used)."""
        with self._lock:
            theta = self._in_use.get(session)
        return theta if theta is not None and theta.model == model else None

    def by_key(self, key: str) -> LearnedTheta | None:
        with self._lock:
            return next((theta for theta in self._in_use.values() if theta.key == key), None)

    def forget(self, session: str) -> None:
        with self._lock:
            self._learned.pop(session, None)
            self._in_use.pop(session, None)


LINE = LearnLine()
MAPPINGS = SessionMappings()


def theta_key(session: str, model: str) -> str:
    """The key of the Θ this session chose for ``model`` ("" when none: runs use the shipped Θ)."""
    theta = MAPPINGS.in_use(session, model)
    return theta.key if theta is not None else ""


def chosen_mapping(key: str, model: str, device: torch.device | str = "cpu") -> tuple[nn.Module, str] | None:
    """The session-chosen Θ named ``key`` for ``model`` (a frozen copy on ``device``) and a note; None if unknown."""
    theta = MAPPINGS.by_key(key) if key else None
    if theta is None or theta.model != model:
        return None
    mapping = as_module(theta.mapping.state_dict(), theta.mapping).to(device)
    return mapping, f"Θ: your own ({theta.info.get('source', 'learned')}), this session only"


def load_theta_file(path: str | Path, model: str) -> LearnedTheta:
    """A visitor's Θ file for ``model``, shape-checked (arrays only); ``ValueError`` with a clear message else."""
    forward = load_model(model)
    try:
        mapping = load_mapping_file(Path(path), x_dim=forward.input_dim)
    except FileNotFoundError as error:
        raise ValueError(str(error)) from None
    return LearnedTheta(model, mapping.eval().requires_grad_(False), {"source": f"uploaded {Path(path).name}"})


def write_theta_file(theta: LearnedTheta, folder: Path | None = None) -> Path:
    """``theta`` as a one-file safetensors Θ (weights; settings and last probe in its header) in a temp folder."""
    folder = Path(folder or tempfile.mkdtemp(prefix="learned-theta-"))
    path = folder / f"{theta.model}_learned_mapping.safetensors"
    save_mapping_file(path, theta.mapping, {"model": theta.model, **theta.info})
    return path


def validation_batch(model: str, forward) -> tuple[Tensor, str]:
    """The bundled held-out targets of ``model`` (never trained on) and a word on them."""
    if model == "pose32":
        clips = sorted((SAMPLES / "poses").glob("*.json"))
        frames = torch.cat(
            [torch.tensor(json.loads(path.read_text())["frames"], dtype=torch.float32) for path in clips]
        )
        index = torch.linspace(0, len(frames) - 1, VALIDATION).round().long()
        return frames[index], f"{VALIDATION} poses of the bundled test clips"
    folder = SAMPLES / "mnist" if model == "digits" else SAMPLES
    paths = sorted(folder.glob("face_*.png") if model == "faces64" else folder.glob("*.png"))[:VALIDATION]
    return torch.stack([forward.prepare_target(path)[0] for path in paths]), f"{len(paths)} bundled held-out images"


def own_targets(files: list, forward) -> Tensor:
    """Up to :data:`MAX_OWN_TARGETS` uploaded images, prepared as the Image tab prepares a target
    (:mod:`app.targets`), ``N x 3 x S x S``; ``ValueError`` with a clear message when unusable."""
    from app.targets import build_target, load_target

    if getattr(forward, "output_kind", "image") != "image":
        raise ValueError("your own targets work with an image model only")
    if len(files) > MAX_OWN_TARGETS:
        raise ValueError(f"at most {MAX_OWN_TARGETS} images, got {len(files)}")
    size = int(forward.output_shape[-1])
    images = []
    for file in files:
        value, _notice = load_target(getattr(file, "name", file), size)
        images.append(build_target(value, "none", size).image[0])
    return torch.stack(images)


def learn_frames(
    settings: LearnSettings, stop: threading.Event, *, own: Tensor | None = None, session: str = ""
) -> Iterator[LearnFrame]:
    """Wait for the server's learning slot, then learn; a frame per wait tick and per round, ``stop`` checked
    between rounds (so a Stop or a closed tab ends the job within one round). The finished Θ is kept for
    ``session`` (:data:`MAPPINGS`) for "Use this Θ" and the download; the last frame has ``done``."""
    ticket = object()
    try:
        for ahead in LINE.wait(ticket, stop):
            status = f"Waiting in line: {ahead} learning job{'s' if ahead > 1 else ''} ahead (one at a time on this server). Stop leaves the line."  # fmt: skip
            yield LearnFrame(status=status, budget=settings.seconds, place=ahead)
        if stop.is_set():
            yield LearnFrame(status="Left the line before learning started.", budget=settings.seconds, done=True)
            return
        yield from _learn(settings, stop, own, session, lambda: LINE.alive(ticket))
    finally:
        LINE.leave(ticket)


def _learn(settings: LearnSettings, stop: threading.Event, own: Tensor | None, session: str, alive) -> Iterator[LearnFrame]:  # fmt: skip
    forward = load_model(settings.model)
    if own is not None:
        validation, described, train = own[:VALIDATION], f"{min(len(own), VALIDATION)} of your images (Θ learns on them too)", own  # fmt: skip
    else:
        validation, described = validation_batch(settings.model, forward)
        train = _training_targets(settings.model, settings.seed, validation)
    found = recipe(settings.model, seed=settings.seed)
    mapping = start_mapping(settings.model, forward, settings.start, seed=settings.seed)
    trainer = MappingTrainer(forward, train, mapping, found.train)
    watch = _Watch(forward, validation, probe_settings(settings.model))
    view = watch.look(mapping)
    base = dict(budget=settings.seconds, trajectory_loss=[], probes=[view["probe"]])
    before = view["landscape"]
    frame = LearnFrame(status=f"Round 0 (Θ from {settings.start}) · probed on {described}", **base, **_shown(view, before))  # fmt: skip
    yield frame
    done = None
    for done in learn_rounds(trainer, seconds=settings.seconds):
        alive()
        current = as_module(done.mapping, mapping)
        view = watch.look(current, final=done.learning_seconds >= settings.seconds)
        left = max(settings.seconds - done.learning_seconds, 0.0)
        status = f"Round {done.round} · {done.learning_seconds:.0f} s learned, {left:.0f} s left · trajectory loss {done.trajectory_loss:.4f}"  # fmt: skip
        frame = LearnFrame(
            status=status, round=done.round, learning_seconds=done.learning_seconds, budget=settings.seconds,
            trajectory_loss=[*frame.trajectory_loss, done.trajectory_loss], probes=[*frame.probes, view["probe"]],
            **_shown(view, before),
        )  # fmt: skip
        yield frame
        if stop.is_set():
            break
    if done is None:
        yield LearnFrame(**{**frame.__dict__, "status": "Stopped before the first round ended.", "done": True})
        return
    if "200" not in frame.probes[-1]["z_loss"]:  # stopped early: the 200-step point of the last Θ, outside the clock
        view = watch.look(current, final=True)
        frame = LearnFrame(**{**frame.__dict__, "probes": [*frame.probes[:-1], view["probe"]]})
    theta = LearnedTheta(settings.model, as_module(done.mapping, mapping), _info(settings, found, frame, described))
    MAPPINGS.learned(session, theta)
    ended = "Stopped" if stop.is_set() else "Done"
    status = f"{ended} after {frame.round} rounds ({frame.learning_seconds:.0f} s of learning). {_verdict(frame.probes[-1])}"  # fmt: skip
    yield LearnFrame(**{**frame.__dict__, "status": status, "done": True})


def _training_targets(model: str, seed: int, fallback: Tensor) -> Tensor:
    """The model's training targets; where the training data is absent, the validation batch (said in the info)."""
    try:
        return training_targets(model, seed=seed)
    except FileNotFoundError:
        return fallback


def _info(settings: LearnSettings, found, frame: LearnFrame, described: str) -> dict:
    return {
        "source": f"learned here, {frame.round} rounds from {settings.start}",
        "start": settings.start,
        "seconds": frame.learning_seconds,
        "rounds": frame.round,
        "train": found.train.to_dict(),
        "probe": frame.probes[-1],
        "probed_on": described,
    }


def _verdict(probe: dict) -> str:
    z, x = probe["z_loss"]["20"], probe["x_loss"]["20"]
    return f"Z@20 {z:.4f} vs X@20 {x:.4f}: Z is {'ahead' if z < x else 'not ahead yet'} ({z / x:.2f} × X)."


def _shown(view: dict, before: dict | None) -> dict:
    return dict(landscapes=(before, view["landscape"]), reconstructions=view["reconstructions"])


class _Watch:
    """The figures of a Θ on the validation batch: the probe (X run once), the landscape, reconstructions.

    Between rounds the probe stops at step 20 (rounds stay quick); the 200-step point is measured for
    the final Θ only (``final=True``), as the issue allows the tab."""

    def __init__(self, forward, validation: Tensor, settings: ProbeSettings) -> None:
        self.forward, self.validation = forward, validation
        self.settings = settings
        self.x = probe_mapping(forward, validation, None, settings, spaces=("x",))
        self.landscape = LandscapeConfig(steps=20, grid=21, lr=settings.z_lr, loss="mse")  # Θ's own loss: cheap

    def look(self, mapping: nn.Module, *, final: bool = False) -> dict:
        steps = self.settings.steps if final else tuple(step for step in self.settings.steps if step <= 20)
        settings = ProbeSettings(**{**self.settings.__dict__, "steps": steps})
        mapping = mapping.eval().requires_grad_(False)
        probe = probe_mapping(self.forward, self.validation, mapping, settings, spaces=("z", "zx"), keep=(2, 20))
        for progress in explore(self.forward, self.validation, mapping=mapping, config=self.landscape):
            pass
        return {
            "probe": self.x.merged(probe).to_dict(),
            "landscape": progress.surface.to_plain(),
            "reconstructions": self._images(probe.outputs["z"]),
        }

    def _images(self, outputs: dict[int, Tensor]) -> list | None:
        if getattr(self.forward, "output_kind", "image") != "image":
            return None
        shown = range(min(SHOWN, len(self.validation)))
        return [(tensor_to_image(self.validation[i]), tensor_to_image(outputs[2][i]), tensor_to_image(outputs[20][i])) for i in shown]  # fmt: skip


def learn_to_end(settings: LearnSettings, *, own: Tensor | None = None, session: str = "") -> tuple[LearnFrame, Path]:
    """The ``/learn`` API: a whole job (waiting for the slot) and the Θ file it learned."""
    frame = None
    for frame in learn_frames(settings, threading.Event(), own=own, session=session):
        pass
    theta = MAPPINGS.last_learned(session)
    if frame is None or theta is None or frame.round == 0:
        raise ValueError("no round of learning finished")
    return frame, write_theta_file(theta)
