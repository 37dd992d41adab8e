"""Handlers of the "Image inversion" tab: they advance engine runs and yield dicts keyed by component.

:class:`ImageTab` holds the tab's components (built by :func:`build_image_tab`); its methods are the
event handlers. The work happens in :mod:`app.targets` and :mod:`app.runs`, which know
nothing of Gradio.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from app.defense_runs import digit_label
from app.download import RunRecord
from app.figures import add_reference, empty_loss_figure, loss_figure
from app.learn_runs import theta_key
from app.media import image_file, report_unreadable
from app.progress import on_strip, progress_strip
from app.runs import (
    FULL_LABELS,
    LAST_STAGE,
    MAX_HYPOTHESES,
    MAX_STEPS,
    NOT_REFINED,
    Frame,
    RunSettings,
    default_handoff,
    default_lrs,
    encoder_result,
    final_stage,
    full_render,
    has_final_stage,
    masked_handoff,
    refines,
    renders_full,
    stream_run,
    warm_up,
)
from app.session import SESSIONS, RunInProgress, RunStop, session_id
from app.tabs.image_edit import build_face_edit_panel, remember_run, wire_face_edit_panel
from app.targets import (
    PRESETS,
    SAMPLES_DIR,
    TARGET_ID_LABEL,
    aligns_faces,
    build_target,
    draw_preset,
    load_target,
    masked_view,
    sample_choices,
    sample_paths,
)
from engines.core.losses import lpips_available
from engines.models.registry import available_models, get_spec, load_model

logger = logging.getLogger(__name__)

YOUR_UPLOAD = "(your upload)"  # the sample list's entry while the editor holds an upload
RUN_OWNER = "image"  # the tab's runs in the session registry: a new target ends these only


def target_size(model_name: str) -> int:
    """Side of the square images model ``model_name`` makes."""
    try:
        return int(load_model(model_name).output_shape[-1])
    except (ValueError, FileNotFoundError) as error:
        raise ValueError(f"model {model_name!r} cannot be loaded: {error}") from error


# Samples per generator: a face model gets faces in its own crop and the out-of-distribution cats (the FFHQ
# models: CelebA training faces aligned the FFHQ way and faces the generator drew), a digit model its MNIST
# test digits (a face would be shrunk into a 28×28 "digit").
FFHQ_SAMPLES = SAMPLES_DIR / "ffhq"
MODEL_SAMPLE_DIRS = {"digits": SAMPLES_DIR / "mnist", **{name: FFHQ_SAMPLES for name in ("ffhq64", "ffhq64-w", "ffhq128", "ffhq128-w")}}  # fmt: skip


def model_samples(model: str | None) -> dict[str, Path]:
    """The bundled samples that suit ``model``, by name."""
    folder = MODEL_SAMPLE_DIRS.get(model or "")
    return sample_paths() if folder is None else {path.stem: path for path in sorted(folder.glob("*.png"))}


def model_sample_choices(model: str | None) -> list[tuple[str, str]]:
    """(label, name) of :func:`model_samples`: "Face 8042 (in-distribution, held out)", "Digit 7 (MNIST test 7504)"..."""
    folder = MODEL_SAMPLE_DIRS.get(model or "")
    if folder is None or folder == FFHQ_SAMPLES:
        return sample_choices() if folder is None else sample_choices(folder)
    return [(_digit_label(name), name) for name in model_samples(model)]


def _digit_label(name: str) -> str:
    return digit_label(name)  # mnist_test_07504_digit7 -> "Digit 7 (MNIST test 7504)"


def report_unreadable_targets(editor: gr.ImageEditor) -> gr.ImageEditor:
    """Make ``editor`` answer a file that is not an image in the app's words (:func:`app.media.report_unreadable`)."""
    return report_unreadable(editor, "⚠ the target is not a readable image: send a PNG or JPEG")


ENCODER_NOTE = "F(E(target)) in one forward pass: E is a network trained to map an image straight to F's input (the feed-forward baseline, no steps; the chart's grey dashed line)"  # fmt: skip


def caption(space: str, step: int, loss: float) -> str:
    return f"**{space}** · step {step} · loss {loss:.5f}"


def handoff_caption(step: int, loss: float, space: str, handoff: int) -> str:
    """The Z→X pane's caption: which space it is in at ``step`` (Z until the hand-off, then X)."""
    where = f"Z until step {handoff}" if space == "z" else f"X since step {handoff}"
    return f"**Z→X** · step {step} · loss {loss:.5f} · {where}"


def final_caption(loss: float, steps: int, zx_loss: float, first_step: int = 0) -> str:
    """The final pane's caption, shown above it: first what it is not (the model's own reconstruction),
    then the stage, its steps within the run's budget and its loss."""
    return (
        "**Final · refined past the generator: not the model's reconstruction** (that is Z→X). "
        f"Z→X to step {first_step}, then {steps} steps in the generator's feature map (weights fixed, pulled "
        f"towards Z→X's own features) · loss {loss:.5f} (Z→X {zx_loss:.5f})"
    )


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
    zx_image: gr.Image
    zx_caption: gr.Markdown
    zx_gallery: gr.Gallery
    handoff: gr.Slider
    align: gr.Checkbox
    final_image: gr.Image
    final_caption: gr.Markdown
    progress: gr.HTML
    step_pick: gr.Radio
    kept: gr.State
    refine: gr.Checkbox  # "Refine past the generator": the face models' last stage, off by default
    full_view: gr.Gallery  # after a Run on an FFHQ model: each pane's final input drawn by the full 1024² network

    @property
    def run_inputs(self) -> list:
        return [self.editor, self.preset, self.model, self.optimizer, self.steps, self.lr_x, self.lr_z, self.loss, self.handoff, self.refine]  # fmt: skip

    @property
    def hypotheses_inputs(self) -> list:
        return self.run_inputs[:-2] + [self.hypotheses, self.handoff]

    @property
    def run_outputs(self) -> list:
        return [
            self.status, self.seen, self.x_image, self.z_image, self.x_caption, self.z_caption, self.chart,
            self.x_gallery, self.z_gallery, self.run_button, self.hypotheses_button, self.stop_button,
            self.sample, self.upload, self.model, self.download, self.target_id,
            self.encoder_image, self.encoder_caption, self.zx_image, self.zx_caption, self.zx_gallery,
            self.final_image, self.final_caption, self.step_pick, self.kept, self.full_view,
        ]  # fmt: skip

    @property
    def results(self) -> list:
        """What a run leaves on the page: cleared when the target changes (:meth:`cleared`)."""
        return [
            self.status, self.x_image, self.z_image, self.zx_image, self.x_caption, self.z_caption, self.zx_caption,
            self.chart, self.x_gallery, self.z_gallery, self.zx_gallery, self.download, self.encoder_image,
            self.encoder_caption, self.final_image, self.final_caption, self.step_pick, self.kept, self.full_view,
        ]  # fmt: skip

    @property
    def target_outputs(self) -> list:
        """What loading a new target updates: the editor, the notice, what the optimiser sees, the old results
        cleared and the controls a run had disabled (it is ended: :meth:`end_run`)."""
        return [self.editor, self.notice, self.seen, *self.results, *self._controls(running=False)]

    def end_run(self, request: Any) -> None:
        """A new target ends this session's running Run or Hypotheses at once: it yields no frame more, and
        this returns only after its last one went out, so the cleared panes are the last word."""
        SESSIONS.supersede(session_id(request), owner=RUN_OWNER)

    def cleared(self, status: str = "Ready: a new target. Press Run.") -> dict:
        """Every result of the previous run emptied, so nothing old sits beside a new target."""
        return {**self._controls(running=False),
            self.status: status, self.x_image: None, self.z_image: None, self.zx_image: None,
            self.x_caption: "**X-space** · step –", self.z_caption: "**Z-space (Θ)** · step –",
            self.zx_caption: "**Z→X** · step –", self.chart: empty_loss_figure(), self.x_gallery: [],
            self.z_gallery: [], self.zx_gallery: [], self.download: None, self.encoder_image: None,
            self.encoder_caption: "**Encoder** · –", **self._final_hidden(), **self._no_steps(),
        }  # fmt: skip

    def _no_steps(self) -> dict:
        return {self.step_pick: gr.update(choices=[], value=None, visible=False), self.kept: None}

    def _final_hidden(self) -> dict:
        return {
            self.final_image: gr.update(value=None, visible=False),
            self.final_caption: "",
            self.full_view: gr.update(value=[], visible=False),
        }

    def choose_sample(self, name: str | None, model: str, preset: str = "none", request: gr.Request = None) -> dict:
        """A bundled sample into the editor, what the optimiser will see of it, the old results cleared."""
        self.end_run(request)
        if not name or name == YOUR_UPLOAD:  # set by an upload: the editor already holds the upload
            return {self.notice: gr.update()}
        samples = model_samples(model)
        if name not in samples:  # a sample of another generator: never shrink a face into a digit silently
            return {self.notice: f"⚠ {name} is not a sample for {model}: pick one from the list"}
        update = self._load(samples[name], model, preset)
        if model in MODEL_SAMPLE_DIRS and self.seen in update:  # say why the list changed with the generator
            update[self.notice] += f" · the samples follow the generator: {model}'s own"
        return update

    def upload_target(self, file: Any, model: str, preset: str = "none", align: bool = True, request: gr.Request = None) -> dict:  # fmt: skip
        """An uploaded file into the editor (the sample choice cleared), or a clear message when it is not usable.

        align: for a face model, the face is aligned to the training crop (MTCNN) and the editor shows
        the aligned crop; off, or no face found, the centre crop."""
        self.end_run(request)
        update = self._load(file, model, preset, align=align)
        uploaded = gr.update(choices=[(YOUR_UPLOAD, YOUR_UPLOAD), *model_sample_choices(model)], value=YOUR_UPLOAD)
        return update | ({self.sample: uploaded} if self.seen in update else {})

    def realign(self, file: Any, sample: str | None, model: str, preset: str, align: bool, request: gr.Request = None) -> dict:  # fmt: skip
        """The checkbox toggled: the current upload loaded again with or without alignment (a sample stays)."""
        if (sample and sample != YOUR_UPLOAD) or not file:
            return {self.notice: gr.update()}
        return self.upload_target(file, model, preset, align, request)

    def follow_model(self, model: str, current: str | None, preset: str = "none", request: gr.Request = None) -> dict:  # fmt: skip
        """The sample list follows the generator: its own samples, the first one chosen (which loads it
        and clears the old results), with a notice saying so. A sample the new generator has too is loaded
        again in its own crop (face 7019 is the CelebA crop for faces64, the FFHQ crop for the FFHQ models)."""
        choices = model_sample_choices(model)
        names = [name for _, name in choices]
        if current in names:  # reloaded: the crop may differ, and the old results belong to the old model
            return {**self.choose_sample(current, model, preset, request), self.sample: gr.update(choices=choices)}
        if not names or current in names:
            return {self.sample: gr.update(choices=choices)}
        notice = f"The samples follow the generator: **{model}** has its own ({choices[0][0]} loaded)."
        return {self.sample: gr.update(choices=choices, value=names[0]), self.notice: notice}

    def _load(self, source: Any, model: str, preset: str, *, align: bool = False) -> dict:
        try:
            value, notice = load_target(source, target_size(model), align=bool(align) and aligns_faces(model), model=model)  # fmt: skip
            value = draw_preset(value, preset, target_size(model))  # the chosen preset, drawn on the new target
            seen = masked_view(build_target(value, preset, target_size(model)))
        except ValueError as error:
            return {**self._controls(running=False), self.editor: gr.update(), self.notice: f"⚠ {error}"}
        return {**self.cleared(), self.editor: value, self.notice: notice, self.seen: image_file(seen)}

    def load_example(self, path: str, name: str, preset: str, model: str, request: gr.Request = None) -> dict:
        """An example clicked: its sample chosen and loaded with its preset drawn, on its generator."""
        self.end_run(request)
        loaded = self._load(model_samples(model).get(name, path), model, preset)
        chosen = {self.sample: gr.update(value=name, interactive=True), self.model: gr.update(value=model, interactive=True)}  # fmt: skip
        return loaded | ({**chosen, self.preset: preset} if self.seen in loaded else {})

    def show_preset(self, editor: dict | None, preset: str, model: str) -> dict:
        """A preset chosen: its hidden region drawn on the target in the editor (the visitor's strokes kept),
        and what the optimiser will see."""
        try:
            drawn = draw_preset(editor, preset, target_size(model))
        except ValueError as error:
            return {self.editor: gr.update(), self.seen: None, self.notice: f"⚠ {error}"}
        return {self.editor: drawn if drawn is not None else gr.update(), **self.preview(drawn, preset, model)}

    def show_step(self, step: Any, kept: dict | None) -> dict:
        """After a run: the X, Z and Z→X panes (and captions) at a kept step, to compare e.g. 2, 20 and 200."""
        if not kept or step is None or str(step) not in kept["images"]:
            return {self.status: gr.update()}
        step = int(step)
        images, losses = kept["images"][str(step)], kept["losses"][str(step)]
        panes = (self.x_image, self.z_image, self.zx_image)
        updates = {pane: image_file(image) for pane, image in zip(panes, images)}
        space = "z" if step < kept["handoff"] else "x"
        return updates | {
            self.x_caption: caption("X-space", step, losses[0]),
            self.z_caption: caption("Z-space (Θ)", step, losses[1]),
            self.zx_caption: handoff_caption(step, losses[2], space, kept["handoff"]),
        }

    def preview(self, editor: dict | None, preset: str, model: str) -> dict:
        """What the optimiser will see: the target with unknown pixels checkered out."""
        try:
            return {self.seen: image_file(masked_view(build_target(editor, preset, target_size(model))))}
        except ValueError as error:
            return {self.seen: None, self.notice: f"⚠ {error}"}

    def run(self, editor, preset, model, optimizer, steps, lr_x, lr_z, loss, handoff=None, refine=False, request: gr.Request = None, progress=gr.Progress()) -> Iterator[dict]:  # fmt: skip
        """Run: one start from z = 0 in each space (X, Z, Z→X), streamed side by side; with ``refine`` on a face
        model, the last stage branches off Z→X and ends at the same last step (the Final pane)."""
        settings = dict(model=model, optimizer=optimizer, steps=steps, lr_x=lr_x, lr_z=lr_z, loss=loss)
        settings.update(refine=bool(refine) and has_final_stage(model))
        settings.update(handoff=default_handoff(model) if handoff is None else _whole(handoff))
        yield from self._stream(editor, preset, settings, session_id(request), progress)

    def run_hypotheses(self, editor, preset, model, optimizer, steps, lr_x, lr_z, loss, hypotheses, handoff=None, request: gr.Request = None, progress=gr.Progress()) -> Iterator[dict]:  # fmt: skip
        """Hypotheses: K random starts in one batched run, shown as galleries (X, Z and Z→X)."""
        settings = dict(model=model, optimizer=optimizer, steps=steps, lr_x=lr_x, lr_z=lr_z, loss=loss)
        settings.update(num_hypotheses=_whole(hypotheses), z_init="random")
        settings.update(handoff=default_handoff(model) if handoff is None else _whole(handoff))
        yield from self._stream(editor, preset, settings, session_id(request), progress)

    def stop(self, request: gr.Request = None) -> None:
        """Ask this session's run to end after its current step."""
        SESSIONS.stop(session_id(request))

    def _stream(self, editor: dict | None, preset: str, settings: dict, key: str, progress=None) -> Iterator[dict]:
        try:
            stop = SESSIONS.start(key, owner=RUN_OWNER)
        except RunInProgress as error:
            yield {self.status: f"⚠ {error}"}
            return
        record = RunRecord()
        yield {**self._controls(running=True), self.status: "Starting…", self.download: None, **self._final_hidden(), **self._no_steps()}  # fmt: skip
        try:  # a run a new target superseded (stop.superseded) yields nothing more: the page already moved on
            yield from self._frames(editor, preset, settings, stop, record, progress, key)
        finally:
            SESSIONS.finish(key, stop)

    def _frames(self, editor, preset, settings: dict, stop: RunStop, record: RunRecord, progress, key: str) -> Iterator[dict]:  # fmt: skip
        message, pending = None, {}
        try:
            settings = RunSettings(**{**settings, "steps": _whole(settings["steps"]), "theta": theta_key(key, settings["model"])})  # fmt: skip
            target = build_target(editor, preset, target_size(settings.model))
            settings, note = masked_handoff(settings, target)
            encoder, reference = self._encoder(target, settings)
            record.target = masked_view(target)
            record.settings = {**asdict(settings), "target_fingerprint": target.fingerprint, "preset": preset}
            shown = gr.update(value=[], visible=settings.num_hypotheses > 1)
            galleries = {self.x_gallery: shown, self.z_gallery: shown, self.zx_gallery: shown}
            pending = {self.seen: image_file(record.target), **galleries, **encoder}  # sent with the first frame
            frame, sent = None, {}
            for frame in stream_run(target, settings, stop, note=note):
                if stop.superseded:
                    return
                record.add(frame.step, frame.losses, frame.images)
                if progress is not None:
                    progress((frame.step, settings.steps), desc="X, Z and Z→X", unit="steps")
                yield {**pending, **self._updates(frame, sent, settings.handoff, reference)}
                pending = {}
            message = "Stopped before the first step." if frame is None else None
            remember_run(key, settings.model, None if frame is None else frame.latents)  # for the edit panel
            if frame is not None and frame.zx_latent is not None and settings.refine:
                yield from self._final(target, settings, frame, stop, record, reference)
            if frame is not None and frame.latents and settings.num_hypotheses == 1 and renders_full(settings.model):
                yield from self._full_view(settings, frame, stop, record)
        except ValueError as error:
            message = f"⚠ {error}"
        except Exception as error:  # shown and logged, so the page stays usable
            logger.exception("run failed")
            message = f"⚠ internal error: {error!r}"
        if stop.superseded:
            return
        files = {self.download: record.write(), **self._steps(record, settings)} if record.losses else {}
        if message and not record.losses:  # nothing ran: the chart says why instead of showing empty axes
            files[self.chart] = empty_loss_figure(f"No curve: {message.removeprefix('⚠ ')}"[:90])
        yield {**pending, **self._controls(running=False), **files, **({self.status: message} if message else {})}

    def _steps(self, record: RunRecord, settings: Any) -> dict:
        """The step picker after a Run (one start per space): the kept steps, their images and losses."""
        if not isinstance(settings, RunSettings) or settings.num_hypotheses != 1 or not record.images:
            return {}
        images = {**record.images, **({record.last[0]: record.last[1]} if record.last else {})}
        kept = {
            "images": {str(step): list(row) for step, row in images.items()},
            "losses": {str(step): list(record.losses[step]) for step in images if step in record.losses},
            "handoff": settings.handoff,
        }
        steps = sorted(int(step) for step in kept["losses"])
        kept["images"] = {str(step): kept["images"][str(step)] for step in steps}
        choices = [(f"step {step}", str(step)) for step in steps]
        picker = gr.update(choices=choices, value=str(steps[-1]), visible=len(steps) > 1)
        return {self.step_pick: picker, self.kept: kept}

    def _final(self, target, settings: RunSettings, frame: Frame, stop: RunStop, record: RunRecord, reference=None) -> Iterator[dict]:  # fmt: skip
        """After a finished Run with "Refine past the generator": the last stage from Z→X at the split step to the
        run's last step, in its own pane, its curve on the chart and in the CSV (``record.final``). It runs once
        X, Z and Z→X have streamed to the end, so it never slows them; a run a new target superseded shows nothing."""
        first_step, steps = settings.final_split()
        if settings.num_hypotheses != 1 or steps == 0:
            return
        if not refines(target):
            yield {self.status: f"{frame.status}  \n{NOT_REFINED}"}
            return
        yield {self.status: f"{frame.status}  \nRefine past the generator: {steps} steps from Z→X at step {first_step}…"}  # fmt: skip
        result = final_stage(target, settings.model, frame.zx_latent, settings.loss, steps, first_step)
        if stop.superseded:
            return
        record.final = dict(enumerate(result.curve, start=first_step))
        curves = list(zip(*(record.losses[step] for step in sorted(record.losses))))
        figure = loss_figure(*curves, handoff=settings.handoff, reference=reference, final=(first_step, result.curve))
        line = (
            f"Final (refined past the generator, not the model's reconstruction): loss {result.loss:.5f} at step "
            f"{first_step + steps} (Z→X {frame.zx_loss:.5f}), {result.seconds:.1f} s"
        )
        yield {
            self.final_image: gr.update(value=image_file(result.image), visible=True),
            self.final_caption: final_caption(result.loss, result.steps, frame.zx_loss, first_step),
            self.status: f"{frame.status}  \n{line}",
            self.chart: figure,
        }

    def _full_view(self, settings: RunSettings, frame: Frame, stop: RunStop, record: RunRecord) -> Iterator[dict]:
        """After a Run on an FFHQ model: each pane's final input drawn once by the full 1024² network (its own
        gallery, and the download), while the 64² panes stay as they streamed."""
        yield {self.status: f"{frame.status}  \nDrawing the three results at 1024² with the full network…"}
        started = time.monotonic()
        images = full_render(settings.model, frame.latents)
        if stop.superseded:
            return
        record.full = {f"run_{stem}_1024": image for stem, image in zip(("x", "z", "zx"), images)}
        items = [(image_file(image), f"{label} at step {frame.step}, full network 1024²") for image, label in zip(images, FULL_LABELS)]  # fmt: skip
        seconds = time.monotonic() - started
        yield {
            self.full_view: gr.update(value=items, visible=True),
            self.status: f"{frame.status}  \nFull resolution: X, Z and Z→X drawn at 1024² in {seconds:.1f} s (below).",
        }

    def _encoder(self, target, settings: RunSettings) -> tuple[dict, tuple[str, float] | None]:
        """The Encoder pane: F(E(target)) in one forward pass (hidden when the model has no encoder), and
        its loss as the chart's flat reference line (None without an encoder)."""
        result = encoder_result(target, settings.model, settings.loss)
        if result is None:
            return {self.encoder_image: gr.update(value=None, visible=False), self.encoder_caption: ""}, None
        image, loss = result
        text = f"**Encoder** · loss {loss:.5f} · {ENCODER_NOTE}"
        pane = {self.encoder_image: gr.update(value=image_file(image), visible=True), self.encoder_caption: text}
        return pane, ("Encoder (one pass)", loss)

    def _updates(self, frame: Frame, sent: dict, handoff: int, reference: tuple[str, float] | None = None) -> dict:
        """A frame's updates. Images go out as content-named files, and a pane whose picture has not
        changed since the last frame ``sent`` is left out (never re-sent while the browser fetches it)."""
        panes = (self.x_image, self.z_image, self.zx_image)
        images = {component: image_file(image) for component, image in zip(panes, frame.images)}
        changed = {component: path for component, path in images.items() if sent.get(component) != path}
        sent.update(changed)
        updates = changed | {
            self.x_caption: caption("X-space", frame.step, frame.x_loss),
            self.z_caption: caption("Z-space (Θ)", frame.step, frame.z_loss),
            self.zx_caption: handoff_caption(frame.step, frame.zx_loss, frame.zx_space, handoff),
            self.status: frame.status,
            self.target_id: frame.target,
        }
        galleries = {
            self.x_gallery: frame.x_gallery,
            self.z_gallery: frame.z_gallery,
            self.zx_gallery: frame.zx_gallery,
        }
        notes = frame.gallery_notes or ("", "", "")
        galleries = {
            component: gr.update(value=_gallery_files(items), visible=True, label=_gallery_label(component.label, note))
            for (component, items), note in zip(galleries.items(), notes)
            if items is not None
        }  # visible here: a plain list would undo the first frame's "show the galleries"
        if frame.figure is not None and reference is not None:
            add_reference(frame.figure, *reference, last=frame.steps - 1)
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


def _gallery_label(label: str | None, note: str) -> str:
    """A gallery's label with its note (spread, best-of-K hidden error), e.g. "X-space hypotheses · spread …"."""
    base = (label or "").split(" · ")[0]
    return f"{base} · {note}" if note else base


def _gallery_files(items: list) -> list[tuple[str, str]]:
    return [(image_file(image), label) for image, label in items]


def _whole(value: Any) -> Any:
    """A slider's float as an int when it is whole; anything else passes on to validation."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Layout and wiring of the tab.

LR_STEP = 0.01  # what the learning-rate fields' arrows add or take away
OPTIMIZER_CHOICES = [("Adam", "adam"), ("SGD", "sgd"), ("L-BFGS", "lbfgs")]
LOSS_LABELS = {"mse": "pixel (MSE)", "l1": "pixel (L1)", "mse+lpips": "MSE + LPIPS"}


def _loss_choices() -> list[tuple[str, str]]:
    names = ["mse", "l1"] + (["mse+lpips"] if lpips_available() else [])
    return [(LOSS_LABELS[name], name) for name in names]


def _target_column(models: list[str]) -> dict:
    with gr.Column(scale=1, min_width=300):
        model = gr.Dropdown(models, value=models[0] if models else None, label="Forward model F", elem_id="image-model")
        with gr.Row():
            sample = gr.Dropdown(model_sample_choices(models[0] if models else None), value=None, label="Sample target", scale=3, elem_id="sample")  # fmt: skip
            upload = gr.UploadButton("Upload…", file_types=["image"], scale=1, min_width=90, elem_id="upload")
        align = gr.Checkbox(True, label="Align face (MTCNN)", info="uploads for a face model; the editor shows the aligned crop", elem_id="align")  # fmt: skip
        notice = gr.Markdown("Pick a sample or upload an image.", elem_id="notice")
        editor = gr.ImageEditor(
            type="numpy", image_mode="RGBA", sources=[], transforms=[], layers=False, format="png",
            brush=gr.Brush(colors=["#ff00ff"], color_mode="fixed", default_size=16), eraser=gr.Eraser(default_size=16),
            label="Target", show_label=False, buttons=[], height=320, elem_id="editor", canvas_size=(256, 256),
        )  # fmt: skip
        gr.Markdown("**Target.** Paint over what is unknown, or pick a preset: it is drawn here in magenta.", elem_classes=["editor-help"])  # fmt: skip
        preset = gr.Radio(list(PRESETS), value="none", label="Mask preset (hidden region)", elem_id="preset")
        seen = gr.Image(label="What the optimiser sees", interactive=False, height=160, elem_id="seen", format="png", buttons=["fullscreen"])  # fmt: skip
        examples = gr.Column()  # filled by _examples once the tab's handlers exist
    report_unreadable_targets(editor)
    parts = dict(model=model, sample=sample, upload=upload, notice=notice, editor=editor, preset=preset, seen=seen)
    return parts | dict(align=align, examples=examples)


def _settings(model: str | None) -> dict:
    with gr.Accordion("Settings", open=True):
        with gr.Row():
            optimizer = gr.Dropdown(OPTIMIZER_CHOICES, value="adam", label="Optimiser")
            loss = gr.Dropdown(_loss_choices(), value=_loss_choices()[-1][1], label="Loss")
            # the browser clamps a typed value into range when the field loses focus: the label gives the range
            steps = gr.Slider(1, MAX_STEPS, value=200, step=1, label=f"Steps (1–{MAX_STEPS})", elem_id="steps")
        refine = _refine_checkbox()
        with gr.Row():
            lr_x_default, lr_z_default = default_lrs(model or "", "adam")
            # checked by RunSettings; the arrows step by LR_STEP (Gradio's default step of 1 made 0.05 into 1)
            lr_x = gr.Number(lr_x_default, label="X-space learning rate", elem_id="lr-x", step=LR_STEP)
            lr_z = gr.Number(lr_z_default, label="Z-space learning rate", elem_id="lr-z", step=LR_STEP)
            hypotheses = gr.Slider(2, MAX_HYPOTHESES, value=8, step=1, label="Hypotheses K (random starts)")
    with gr.Accordion("Advanced settings", open=False):
        handoff = gr.Slider(
            0, 50, value=default_handoff(model or ""), step=1, elem_id="handoff",
            label="Z→X hand-off step k: Z-space for k steps, then X-space from Θ(z_k) at the X learning rate",
        )  # fmt: skip
    return dict(optimizer=optimizer, loss=loss, steps=steps, lr_x=lr_x, lr_z=lr_z, hypotheses=hypotheses, handoff=handoff, refine=refine)  # fmt: skip


def _refine_checkbox() -> gr.Checkbox:
    """The opt-in for the face models' last stage (:data:`app.runs.LAST_STAGE`), off by default."""
    share = round(100 * LAST_STAGE.share)
    info = (
        f"face models: the last {share} % of the steps leave Z→X for the generator's feature map. It fits the "
        "target more closely but is no longer the model's own reconstruction (the Final pane)"
    )
    return gr.Checkbox(False, label="Refine past the generator", info=info, elem_id="refine")


def _pane(label: str, elem: str, text: str, *, visible: bool = True, caption_first: bool = False) -> tuple[gr.Image, gr.Markdown]:  # fmt: skip
    """An image pane and its caption (above the image with ``caption_first``, else below)."""
    with gr.Column(min_width=120):  # five panes (X, Z, Z→X, Encoder, Final) fit one row at 1400 px
        if caption_first:
            text_first = gr.Markdown(text, elem_id=f"{elem}-caption", elem_classes="caption")
        image = gr.Image(label=label, interactive=False, height=190, elem_id=f"{elem}-image", format="png", visible=visible, buttons=["fullscreen"])  # fmt: skip
        return image, text_first if caption_first else gr.Markdown(text, elem_id=f"{elem}-caption", elem_classes="caption")  # fmt: skip


def _results_column(model: str | None, landscape: Callable[[], None]) -> dict:
    with gr.Column(scale=2):
        with gr.Row():
            run_button = gr.Button("Run", variant="primary", elem_id="run")
            hypotheses_button = gr.Button("Hypotheses", elem_id="hypotheses")
            stop_button = gr.Button("Stop", variant="stop", interactive=False, elem_id="stop")
        status = gr.Markdown("Ready.", elem_id="status")
        progress = progress_strip("image-progress")
        with gr.Row():
            x_image, x_caption = _pane("X", "x", "**X-space** · step –")
            z_image, z_caption = _pane("Z (Θ)", "z", "**Z-space (Θ)** · step –")
            zx_image, zx_caption = _pane("Z→X", "zx", "**Z→X** · step –")
            # the feed-forward baseline, for models that ship an encoder
            encoder_image, encoder_caption = _pane("Encoder", "encoder", "**Encoder** · –")
            # "Refine past the generator" (face models, opt-in): the last stage, its caption above it
            final_image, final_caption = _pane("Final", "final", "", visible=False, caption_first=True)
        step_pick = gr.Radio(
            [], label="After a run: the panes at step… (compare e.g. 2, 20, 200)", visible=False, elem_id="step-pick"
        )
        with gr.Tabs(elem_id="chart-tabs"):
            with gr.Tab("Loss vs step", id="curves"):
                chart = gr.Plot(empty_loss_figure(), label="Loss vs step", elem_id="chart")  # Plotly ready before Run
            with gr.Tab("Loss landscape", id="landscape", elem_id="landscape-tab"):
                landscape()
        parts = dict(run_button=run_button, hypotheses_button=hypotheses_button, stop_button=stop_button)
        parts.update(progress=progress, step_pick=step_pick, kept=gr.State(None))
        parts.update(status=status, x_image=x_image, z_image=z_image, x_caption=x_caption, z_caption=z_caption)
        parts.update(encoder_image=encoder_image, encoder_caption=encoder_caption, zx_image=zx_image, zx_caption=zx_caption)  # fmt: skip
        parts.update(final_image=final_image, final_caption=final_caption)
        parts.update(_settings(model), chart=chart)
        # shown by Hypotheses only (K random starts per space), side by side
        gallery = dict(columns=2, height="auto", object_fit="contain", format="png", elem_classes="hypotheses", visible=False)  # fmt: skip
        with gr.Row():
            parts["x_gallery"] = gr.Gallery(
                label="X-space hypotheses (best visible fit first)", elem_id="x-gallery", **gallery
            )
            parts["z_gallery"] = gr.Gallery(
                label="Z-space hypotheses (best visible fit first)", elem_id="z-gallery", **gallery
            )
            parts["zx_gallery"] = gr.Gallery(
                label="Z→X hypotheses (best visible fit first)", elem_id="zx-gallery", **gallery
            )
        parts["download"] = gr.File(label="Download this run: PNG strip of the target and X, Z, Z→X at steps 0, 1, 2, "
                                    "5, 10, 20, 50, 100, 200… and the last, plus the loss curves as CSV",
                                    file_count="multiple", interactive=False, elem_id="download")  # fmt: skip
        parts["full_view"] = gr.Gallery(
            label="Full resolution: each result's input drawn by the full 1024² network (click to enlarge)",
            columns=3, height="auto", object_fit="contain", format="png", visible=False, elem_id="full-view",
            buttons=["download", "fullscreen"],
        )  # fmt: skip
        parts["target_id"] = gr.Textbox(visible=False, label=TARGET_ID_LABEL)
    return parts


def _wire(tab: ImageTab) -> None:
    running = dict(outputs=tab.run_outputs, **on_strip(tab.progress))
    tab.run_button.click(tab.run, tab.run_inputs, api_name="run", api_visibility="undocumented", **running)
    tab.hypotheses_button.click(tab.run_hypotheses, tab.hypotheses_inputs, api_name=False, **running)
    tab.stop_button.click(tab.stop, None, None, api_name=False, concurrency_limit=None, show_progress="hidden")
    loaded = tab.target_outputs  # a new target ends the running stream and clears the old results
    tab.sample.change(tab.choose_sample, [tab.sample, tab.model, tab.preset], loaded, api_name=False)
    tab.upload.upload(tab.upload_target, [tab.upload, tab.model, tab.preset, tab.align], list(dict.fromkeys([*loaded, tab.sample])), api_name=False)  # fmt: skip
    tab.align.change(tab.realign, [tab.upload, tab.sample, tab.model, tab.preset, tab.align], list(dict.fromkeys([*loaded, tab.sample])), api_name=False)  # fmt: skip
    for control in (tab.model, tab.optimizer):
        control.change(default_lrs, [tab.model, tab.optimizer], [tab.lr_x, tab.lr_z], api_name=False)
    tab.model.change(default_handoff, tab.model, tab.handoff, api_name=False)
    tab.model.change(tab.follow_model, [tab.model, tab.sample, tab.preset], list(dict.fromkeys([tab.sample, *loaded])), api_name=False)  # fmt: skip
    preview = dict(fn=tab.preview, inputs=[tab.editor, tab.preset, tab.model], outputs=[tab.seen, tab.notice])
    quick = dict(api_name=False, trigger_mode="always_last", show_progress="hidden", concurrency_limit=None)
    tab.editor.change(**preview, **quick)
    preset = [tab.editor, tab.seen, tab.notice]
    tab.preset.change(tab.show_preset, [tab.editor, tab.preset, tab.model], preset, **quick)
    panes = [tab.x_image, tab.z_image, tab.zx_image, tab.x_caption, tab.z_caption, tab.zx_caption, tab.status]
    tab.step_pick.input(tab.show_step, [tab.step_pick, tab.kept], panes, api_name=False, show_progress="hidden")


def _landscape(model: gr.Dropdown, editor: gr.ImageEditor, preset: gr.Radio) -> None:
    """The landscape panel (its own tab beside the loss curves), on the tab's model, target and preset."""
    try:
        from app.tabs.landscape import build_landscape_panel
    except ImportError as error:
        logger.warning("landscape panel unavailable: %s", error)
        gr.Markdown(f"The landscape panel is unavailable here: {error}")
        return

    def prepare(forward, editor, preset):
        target = build_target(editor, preset, int(forward.output_shape[-1]))
        return target.image, target.weight

    build_landscape_panel(model=model, target=editor, mask=preset, prepare=prepare, accordion=False)


def _examples(tab: ImageTab) -> None:
    """A gallery of ready targets (held-out faces, a cat, masked cases): a click loads one with its preset."""
    samples = model_samples(None)
    rows = [[name, preset] for name, preset in EXAMPLES if name in samples]
    if not rows or EXAMPLE_MODEL not in available_models("image"):
        return
    example_image = gr.Image(type="filepath", visible=False, label="Example target")
    name = gr.Textbox(visible=False, label="Example name")
    gr.Examples(
        [[str(samples[sample]), sample, preset, EXAMPLE_MODEL] for sample, preset in rows],
        inputs=[example_image, name, tab.preset, tab.model],
        outputs=list(dict.fromkeys([tab.sample, tab.preset, tab.model, *tab.target_outputs])),
        fn=tab.load_example,
        run_on_click=True,
        cache_examples=False,
        label="Examples (faces, a cat, masked cases): a click loads the target and its mask",
        examples_per_page=8,
        visible_columns=[0],
        elem_id="examples",
    )


EXAMPLE_MODEL = "faces64"  # the examples are faces and cats: a click switches the generator to the face model
EXAMPLES = (  # (sample, preset): faces, a cat, masked cases
    ("face_007019", "none"), ("face_008042", "hide mouth"), ("face_008311", "left half"),
    ("face_008650", "keep centre"), ("cat_flickr_cat_000010", "none"), ("cat_flickr_cat_000249", "hide mouth"),
)  # fmt: skip


def _theta_upload(tab: ImageTab) -> None:
    """A Θ file of the visitor's own (e.g. from the "Learn Θ" tab) for this session's runs."""
    from app.tabs.learn import build_theta_upload

    with gr.Row():
        build_theta_upload(tab.model)


def build_image_tab() -> ImageTab:
    # unconditional models first (faces64 stays the default); class-conditional ones run with their mean class
    models = sorted(available_models("image"), key=lambda name: get_spec(name).conditional)
    if models:
        warm_up(models[0])
    if not models:
        gr.Markdown("⚠ No image model weights found: train `faces64` first (see the README).")
    with gr.Row():
        parts = _target_column(models)
        landscape = lambda: _landscape(parts["model"], parts["editor"], parts["preset"])  # noqa: E731
        parts.update(_results_column(models[0] if models else None, landscape))
    examples = parts.pop("examples")
    tab = ImageTab(**parts)
    _wire(tab)
    _theta_upload(tab)
    tab.face_edit = build_face_edit_panel()  # edit a pane's face, put it back into the uploaded photo
    wire_face_edit_panel(tab.face_edit, tab.upload, tab.align)
    with examples:  # under the target, where a visitor looks for one
        _examples(tab)
    return tab
