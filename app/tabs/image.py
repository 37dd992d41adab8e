"""Handlers of the "Image inversion" tab: they advance engine runs and yield dicts keyed by component.

:class:`ImageTab` holds the tab's components (built by :func:`build_image_tab`); its methods are the
event handlers. The work happens in :mod:`app.targets` and :mod:`app.runs`, which know
nothing of Gradio.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.download import RunRecord
from app.media import image_file
from app.runs import (
    MAX_HYPOTHESES,
    MAX_STEPS,
    Frame,
    RunSettings,
    default_lrs,
    encoder_result,
    stream_run,
    warm_up,
)
from app.session import SESSIONS, RunInProgress, session_id
from app.targets import (
    PRESETS,
    TARGET_ID_LABEL,
    build_target,
    load_target,
    masked_view,
    sample_choices,
    sample_paths,
)
from engines.core.losses import lpips_available
from engines.models.registry import available_models, get_spec, load_model

logger = logging.getLogger(__name__)


def target_size(model_name: str) -> int:
    """Side of the square images model ``model_name`` makes."""
    try:
        return int(load_model(model_name).output_shape[-1])
    except (ValueError, FileNotFoundError) as error:
        raise ValueError(f"model {model_name!r} cannot be loaded: {error}") from error


def report_unreadable_targets(editor: gr.ImageEditor) -> gr.ImageEditor:
    """Make ``editor`` answer a file that is not an image in the app's words.

    An API client (``gradio_client``) can send any file as the target; the stock editor then fails
    before the handler runs and the client sees an opaque error. (A subclass would make Gradio
    write a ``.pyi`` stub beside this module, so the instance's ``preprocess`` is wrapped instead.)
    """
    preprocess = editor.preprocess

    def checked(payload: Any) -> Any:
        try:
            return preprocess(payload)
        except Exception as error:
            logger.info("unreadable target: %s", error)  # the message names no server path
            raise gr.Error("⚠ the target is not a readable image: send a PNG or JPEG") from error

    editor.preprocess = checked
    return editor


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
    download: gr.File
    target_id: gr.Textbox
    encoder_image: gr.Image
    encoder_caption: gr.Markdown

    @property
    def run_inputs(self) -> list:
        return [self.editor, self.preset, self.model, self.optimizer, self.steps, self.lr_x, self.lr_z, self.loss]

    @property
    def run_outputs(self) -> list:
        return [
            self.status, self.seen, self.x_image, self.z_image, self.x_caption, self.z_caption, self.chart,
            self.x_gallery, self.z_gallery, self.run_button, self.hypotheses_button, self.stop_button,
            self.sample, self.upload, self.model, self.download, self.target_id,
            self.encoder_image, self.encoder_caption,
        ]  # fmt: skip

    def choose_sample(self, name: str | None, model: str, preset: str = "none") -> dict:
        """A bundled sample into the editor, and what the optimiser will see of it."""
        if not name:  # cleared by an upload: the editor already holds the upload
            return {self.notice: gr.update()}
        return self._load(sample_paths().get(name), model, preset)

    def upload_target(self, file: Any, model: str, preset: str = "none") -> dict:
        """An uploaded file into the editor (the sample choice cleared), or a clear message when it is not usable."""
        update = self._load(file, model, preset)
        return update | ({self.sample: None} if self.seen in update else {})

    def _load(self, source: Any, model: str, preset: str) -> dict:
        try:
            value, notice = load_target(source, target_size(model))
            seen = masked_view(build_target(value, preset, target_size(model)))
        except ValueError as error:
            return {self.editor: gr.update(), self.notice: f"⚠ {error}"}
        return {self.editor: value, self.notice: notice, self.seen: image_file(seen)}

    def preview(self, editor: dict | None, preset: str, model: str) -> dict:
        """What the optimiser will see: the target with unknown pixels checkered out."""
        try:
            return {self.seen: image_file(masked_view(build_target(editor, preset, target_size(model))))}
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
        message, record = None, RunRecord()
        yield {**self._controls(running=True), self.status: "Starting…", self.download: None}
        try:
            settings = RunSettings(**{**settings, "steps": _whole(settings["steps"])})
            target = build_target(editor, preset, target_size(settings.model))
            yield {
                self.seen: image_file(masked_view(target)),
                self.x_gallery: [],
                self.z_gallery: [],
                **self._encoder(target, settings),
            }
            frame, sent = None, {}
            for frame in stream_run(target, settings, stop):
                record.add(frame.step, frame.x_loss, frame.z_loss, frame.x_image, frame.z_image)
                yield self._updates(frame, sent)
            message = "Stopped before the first step." if frame is None else None
        except ValueError as error:
            message = f"⚠ {error}"
        except Exception as error:  # shown and logged, so the page stays usable
            logger.exception("run failed")
            message = f"⚠ internal error: {error!r}"
        finally:
            SESSIONS.finish(key, stop)
        files = {self.download: record.write()} if record.losses else {}
        yield {**self._controls(running=False), **files, **({self.status: message} if message else {})}

    def _encoder(self, target, settings: RunSettings) -> dict:
        """The Encoder pane: F(E(target)) in one forward pass (hidden when the model has no encoder)."""
        result = encoder_result(target, settings.model, settings.loss)
        if result is None:
            return {self.encoder_image: gr.update(value=None, visible=False), self.encoder_caption: ""}
        image, loss = result
        text = f"**Encoder** · one forward pass · loss {loss:.5f}"
        return {self.encoder_image: gr.update(value=image_file(image), visible=True), self.encoder_caption: text}

    def _updates(self, frame: Frame, sent: dict) -> dict:
        """A frame's updates. Images go out as content-named files, and a pane whose picture has not
        changed since the last frame ``sent`` is left out (never re-sent while the browser fetches it)."""
        images = {self.x_image: image_file(frame.x_image), self.z_image: image_file(frame.z_image)}
        changed = {component: path for component, path in images.items() if sent.get(component) != path}
        sent.update(changed)
        updates = changed | {
            self.x_caption: caption("X-space", frame.step, frame.x_loss),
            self.z_caption: caption("Z-space (Θ)", frame.step, frame.z_loss),
            self.status: frame.status,
            self.target_id: frame.target,
        }
        galleries = {self.x_gallery: frame.x_gallery, self.z_gallery: frame.z_gallery}
        galleries = {component: _gallery_files(items) for component, items in galleries.items() if items is not None}
        return updates | galleries | ({self.chart: frame.figure} if frame.figure is not None else {})

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


def _gallery_files(items: list) -> list[tuple[str, str]]:
    return [(image_file(image), label) for image, label in items]


def _whole(value: Any) -> Any:
    """A slider's float as an int when it is whole; anything else passes on to validation."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Layout and wiring of the tab.

OPTIMIZER_CHOICES = [("Adam", "adam"), ("SGD", "sgd"), ("L-BFGS", "lbfgs")]
LOSS_LABELS = {"mse": "pixel (MSE)", "l1": "pixel (L1)", "mse+lpips": "MSE + LPIPS"}


def _loss_choices() -> list[tuple[str, str]]:
    names = ["mse", "l1"] + (["mse+lpips"] if lpips_available() else [])
    return [(LOSS_LABELS[name], name) for name in names]


def _target_column(models: list[str]) -> dict:
    with gr.Column(scale=1, min_width=300):
        model = gr.Dropdown(models, value=models[0] if models else None, label="Forward model F")
        with gr.Row():
            sample = gr.Dropdown(sample_choices(), value=None, label="Sample target", scale=3, elem_id="sample")
            upload = gr.UploadButton("Upload…", file_types=["image"], scale=1, min_width=90, elem_id="upload")
        notice = gr.Markdown("Pick a sample or upload an image.", elem_id="notice")
        editor = gr.ImageEditor(
            type="numpy", image_mode="RGBA", sources=[], transforms=[], layers=False, format="png",
            brush=gr.Brush(colors=["#ff00ff"], color_mode="fixed", default_size=16), eraser=gr.Eraser(default_size=16),
            label="Target: paint over what is unknown", height=320, elem_id="editor", canvas_size=(256, 256),
        )  # fmt: skip
        preset = gr.Radio(list(PRESETS), value="none", label="Mask preset (hidden region)", elem_id="preset")
        seen = gr.Image(label="What the optimiser sees", interactive=False, height=160, elem_id="seen", format="png")
    report_unreadable_targets(editor)
    return dict(model=model, sample=sample, upload=upload, notice=notice, editor=editor, preset=preset, seen=seen)


def _settings(model: str | None) -> dict:
    with gr.Accordion("Settings", open=True):
        with gr.Row():
            optimizer = gr.Dropdown(OPTIMIZER_CHOICES, value="adam", label="Optimiser")
            loss = gr.Dropdown(_loss_choices(), value=_loss_choices()[-1][1], label="Loss")
            # from 0, so that a typed 0 reaches the handler, which says why it cannot run
            steps = gr.Slider(0, MAX_STEPS, value=200, step=1, label="Steps", elem_id="steps")
        with gr.Row():
            lr_x_default, lr_z_default = default_lrs(model or "", "adam")
            lr_x = gr.Number(lr_x_default, label="X-space learning rate", elem_id="lr-x")  # checked by RunSettings
            lr_z = gr.Number(lr_z_default, label="Z-space learning rate", elem_id="lr-z")
            hypotheses = gr.Slider(2, MAX_HYPOTHESES, value=8, step=1, label="Hypotheses K (random starts)")
    return dict(optimizer=optimizer, loss=loss, steps=steps, lr_x=lr_x, lr_z=lr_z, hypotheses=hypotheses)


def _results_column(model: str | None) -> dict:
    with gr.Column(scale=2):
        with gr.Row():
            run_button = gr.Button("Run", variant="primary", elem_id="run")
            hypotheses_button = gr.Button("Hypotheses", elem_id="hypotheses")
            stop_button = gr.Button("Stop", variant="stop", interactive=False, elem_id="stop")
        status = gr.Markdown("Ready.", elem_id="status")
        with gr.Row():
            with gr.Column(min_width=180):
                x_image = gr.Image(label="X-space", interactive=False, height=224, elem_id="x-image", format="png")
                x_caption = gr.Markdown("**X-space** · step –", elem_id="x-caption", elem_classes="caption")
            with gr.Column(min_width=180):
                z_image = gr.Image(label="Z-space (Θ)", interactive=False, height=224, elem_id="z-image", format="png")
                z_caption = gr.Markdown("**Z-space (Θ)** · step –", elem_id="z-caption", elem_classes="caption")
            with gr.Column(min_width=180):  # the feed-forward baseline, for models that ship an encoder
                encoder_image = gr.Image(label="Encoder (one pass)", interactive=False, height=224, elem_id="encoder-image", format="png")  # fmt: skip
                encoder_caption = gr.Markdown("**Encoder** · –", elem_id="encoder-caption", elem_classes="caption")
        chart = gr.Plot(label="Loss vs step", elem_id="chart")
        parts = dict(run_button=run_button, hypotheses_button=hypotheses_button, stop_button=stop_button)
        parts.update(status=status, x_image=x_image, z_image=z_image, x_caption=x_caption, z_caption=z_caption)
        parts.update(encoder_image=encoder_image, encoder_caption=encoder_caption)
        parts.update(_settings(model), chart=chart)
        gallery = dict(columns=4, height="auto", object_fit="contain", format="png", elem_classes="hypotheses")
        parts["x_gallery"] = gr.Gallery(label="X-space hypotheses", elem_id="x-gallery", **gallery)
        parts["z_gallery"] = gr.Gallery(label="Z-space hypotheses", elem_id="z-gallery", **gallery)
        parts["download"] = gr.File(label="Download this run: PNG strip of X and Z at steps 0, 1, 2, 5, 10, 20, 50, "
                                    "100, 200… and the last, plus the loss curves as CSV", file_count="multiple",
                                    interactive=False, elem_id="download")  # fmt: skip
        parts["target_id"] = gr.Textbox(visible=False, label=TARGET_ID_LABEL)
    return parts


def _wire(tab: ImageTab) -> None:
    running = dict(outputs=tab.run_outputs, show_progress="hidden")
    tab.run_button.click(tab.run, tab.run_inputs, api_name="run", api_visibility="undocumented", **running)
    tab.hypotheses_button.click(tab.run_hypotheses, tab.run_inputs + [tab.hypotheses], api_name=False, **running)
    tab.stop_button.click(tab.stop, None, None, api_name=False, concurrency_limit=None, show_progress="hidden")
    loaded = [tab.editor, tab.notice, tab.seen]
    tab.sample.change(tab.choose_sample, [tab.sample, tab.model, tab.preset], loaded, api_name=False)
    tab.upload.upload(tab.upload_target, [tab.upload, tab.model, tab.preset], [*loaded, tab.sample], api_name=False)
    for control in (tab.model, tab.optimizer):
        control.change(default_lrs, [tab.model, tab.optimizer], [tab.lr_x, tab.lr_z], api_name=False)
    preview = dict(fn=tab.preview, inputs=[tab.editor, tab.preset, tab.model], outputs=[tab.seen, tab.notice])
    for event in (tab.editor.change, tab.preset.change):
        event(**preview, api_name=False, trigger_mode="always_last", show_progress="hidden", concurrency_limit=None)


def _landscape(tab: ImageTab) -> None:
    try:
        from app.tabs.landscape import build_landscape_panel
    except ImportError as error:
        logger.warning("landscape panel unavailable: %s", error)
        return

    def prepare(forward, editor, preset):
        target = build_target(editor, preset, int(forward.output_shape[-1]))
        return target.image, target.weight

    build_landscape_panel(model=tab.model, target=tab.editor, mask=tab.preset, prepare=prepare)


def build_image_tab() -> ImageTab:
    # unconditional models first (faces64 stays the default); class-conditional ones run with their mean class
    models = sorted(available_models("image"), key=lambda name: get_spec(name).conditional)
    if models:
        warm_up(models[0])
    if not models:
        gr.Markdown("⚠ No image model weights found: train `faces64` first (see the README).")
    with gr.Row():
        parts = _target_column(models)
        parts.update(_results_column(models[0] if models else None))
    tab = ImageTab(**parts)
    _wire(tab)
    _landscape(tab)
    return tab
