"""Handlers of the "Image inversion" tab: they advance engine runs and yield dicts keyed by component.

:class:`ImageTab` holds the tab's components (built by :mod:`app.ui`); its methods are the
event handlers. The work happens in :mod:`app.targets` and :mod:`app.runs`, which know
nothing of Gradio.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.runs import Frame, RunSettings, stream_run
from app.session import SESSIONS, RunInProgress, session_id
from app.targets import build_target, load_target, masked_view, sample_paths
from engines.models import load_model

logger = logging.getLogger(__name__)


def target_size(model_name: str) -> int:
    """Side of the square images model ``model_name`` makes."""
    try:
        return int(load_model(model_name).output_shape[-1])
    except (ValueError, FileNotFoundError) as error:
        raise ValueError(f"model {model_name!r} cannot be loaded: {error}") from error


def caption(space: str, step: int, loss: float) -> str:
    return f"**{space}** · step {step} · loss {loss:.5f}"


@dataclass(eq=False)
class ImageTab:
    """The components of the image tab, and its event handlers."""

    sample: gr.Dropdown
    upload: gr.UploadButton
    editor: gr.ImageEditor
    preset: gr.Radio
    notice: gr.Markdown
    seen: gr.Image
    model: gr.Dropdown
    optimizer: gr.Dropdown
    steps: gr.Slider
    lr_x: gr.Number
    lr_z: gr.Number
    loss: gr.Dropdown
    hypotheses: gr.Slider
    run_button: gr.Button
    hypotheses_button: gr.Button
    stop_button: gr.Button
    status: gr.Markdown
    x_image: gr.Image
    z_image: gr.Image
    x_caption: gr.Markdown
    z_caption: gr.Markdown
    chart: gr.Plot
    x_gallery: gr.Gallery
    z_gallery: gr.Gallery

    @property
    def run_inputs(self) -> list:
        return [self.editor, self.preset, self.model, self.optimizer, self.steps, self.lr_x, self.lr_z, self.loss]

    @property
    def run_outputs(self) -> list:
        return [
            self.status, self.seen, self.x_image, self.z_image, self.x_caption, self.z_caption, self.chart,
            self.x_gallery, self.z_gallery, self.run_button, self.hypotheses_button, self.stop_button,
            self.sample, self.upload, self.model,
        ]  # fmt: skip

    def choose_sample(self, name: str, model: str) -> dict:
        """A bundled sample into the editor."""
        return self._load(sample_paths().get(name), model)

    def upload_target(self, file: Any, model: str) -> dict:
        """An uploaded file into the editor, or a clear message when it is not a usable image."""
        return self._load(file, model)

    def _load(self, source: Any, model: str) -> dict:
        try:
            value, notice = load_target(source, target_size(model))
        except ValueError as error:
            return {self.notice: f"⚠ {error}"}
        return {self.editor: value, self.notice: notice}

    def preview(self, editor: dict | None, preset: str, model: str) -> dict:
        """What the optimiser will see: the target with unknown pixels checkered out."""
        try:
            return {self.seen: masked_view(build_target(editor, preset, target_size(model)))}
        except ValueError as error:
            return {self.seen: None, self.notice: f"⚠ {error}"}

    def run(self, editor, preset, model, optimizer, steps, lr_x, lr_z, loss, request: gr.Request = None) -> Iterator[dict]:  # fmt: skip
        """Run: one start from z = 0 in each space, streamed side by side."""
        settings = dict(model=model, optimizer=optimizer, steps=steps, lr_x=lr_x, lr_z=lr_z, loss=loss)
        yield from self._stream(editor, preset, settings, session_id(request))

    def run_hypotheses(self, editor, preset, model, optimizer, steps, lr_x, lr_z, loss, hypotheses, request: gr.Request = None) -> Iterator[dict]:  # fmt: skip
        """Hypotheses: K random starts in one batched run, shown as galleries."""
        settings = dict(model=model, optimizer=optimizer, steps=steps, lr_x=lr_x, lr_z=lr_z, loss=loss)
        settings.update(num_hypotheses=_whole(hypotheses), z_init="random")
        yield from self._stream(editor, preset, settings, session_id(request))

    def stop(self, request: gr.Request = None) -> None:
        """Ask this session's run to end after its current step."""
        SESSIONS.stop(session_id(request))

    def _stream(self, editor: dict | None, preset: str, settings: dict, key: str) -> Iterator[dict]:
        try:
            stop = SESSIONS.start(key)
        except RunInProgress as error:
            yield {self.status: f"⚠ {error}"}
            return
        message = None
        yield {**self._controls(running=True), self.status: "Starting…"}
        try:
            settings = RunSettings(**{**settings, "steps": _whole(settings["steps"])})
            target = build_target(editor, preset, target_size(settings.model))
            yield {self.seen: masked_view(target), self.x_gallery: [], self.z_gallery: []}
            frame = None
            for frame in stream_run(target, settings, stop):
                yield self._updates(frame)
            message = "Stopped before the first step." if frame is None else None
        except ValueError as error:
            message = f"⚠ {error}"
        except Exception as error:  # shown and logged, so the page stays usable
            logger.exception("run failed")
            message = f"⚠ internal error: {error!r}"
        finally:
            SESSIONS.finish(key, stop)
        yield {**self._controls(running=False), **({self.status: message} if message else {})}

    def _updates(self, frame: Frame) -> dict:
        updates = {
            self.x_image: frame.x_image,
            self.z_image: frame.z_image,
            self.x_caption: caption("X-space", frame.step, frame.x_loss),
            self.z_caption: caption("Z-space (Θ)", frame.step, frame.z_loss),
            self.status: frame.status,
        }
        optional = {self.chart: frame.figure, self.x_gallery: frame.x_gallery, self.z_gallery: frame.z_gallery}
        return updates | {component: value for component, value in optional.items() if value is not None}

    def _controls(self, *, running: bool) -> dict:
        idle = gr.update(interactive=not running)
        return {
            self.run_button: idle,
            self.hypotheses_button: idle,
            self.sample: idle,
            self.upload: idle,
            self.model: idle,
            self.stop_button: gr.update(interactive=running),
        }


def _whole(value: Any) -> Any:
    """A slider's float as an int when it is whole; anything else passes on to validation."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
