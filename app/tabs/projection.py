"""The "Projection" tab (pix2latent): project a photo into a (class-conditional) generator with gradient
and CMA-ES methods, optionally searching a scale / shift / brightness transform of the target.

:class:`ProjectionTab` holds the components; its methods are the event handlers. The runs themselves
happen in :mod:`app.projection_runs`, which knows nothing of Gradio.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import gradio as gr

from app.edits import TUNED
from app.media import as_files, image_file
from app.progress import on_strip, progress_strip
from app.projection_runs import (
    MAX_BUDGET,
    MAX_FINE_TUNE_STEPS,
    MAX_POPULATION,
    Projected,
    ProjectionFrame,
    ProjectionSettings,
    TuningFrame,
    class_names,
    class_path_text,
    device_fine_tune,
    image_size,
    object_mask,
    predicted_class,
    projection_summary,
    stream_spaces,
    until_stopped,
)
from app.session import SESSIONS, RunInProgress, session_id
from app.tabs.projection_edit import EditRow, build_edit_row, wire_edit_row
from app.targets import SAMPLES_DIR, build_target, load_target
from engines.models.registry import available_models, get_spec

logger = logging.getLogger(__name__)

TITLE, ORDER = "Projection", 30  # after "3D pose" (see app.ui.tab_modules)
PROJECTION_SAMPLES = SAMPLES_DIR / "projection"
METHOD_CHOICES = [("Adam", "adam"), ("L-BFGS", "lbfgs"), ("CMA", "cma"), ("CMA+Adam", "cma+adam"), ("BasinCMA", "basincma")]  # fmt: skip
SPACE_CHOICES = [("X (generator input)", "x"), ("Z (through Θ)", "z")]
YOUR_UPLOAD = "(your upload)"  # the sample list's entry while the editor holds an upload
SPACE_TITLES = {"x": "X-space (generator input)", "z": "Z-space (through Θ)"}


def projection_samples() -> dict[str, Path]:
    """Bundled projection targets by name (misaligned MNIST test digits, off-centre CelebA test faces)."""
    return {path.stem: path for path in sorted(PROJECTION_SAMPLES.glob("*.png"))}


SAMPLE_GENERATORS = {"digit": "digits", "face": "faces64"}  # a sample's kind (its name's prefix) -> its generator


def sample_label(name: str) -> str:
    """A sample's name for people: "digit_7_mnist_test_06989" -> "Digit 7 (MNIST test #6989)",
    "face_celeba_test_008123" -> "Face (CelebA test #8123)"; any other name as it is."""
    parts = name.split("_")
    if parts[0] == "digit" and len(parts) == 5 and parts[-1].isdigit():
        return f"Digit {parts[1]} (MNIST test #{int(parts[-1])})"
    if parts[0] == "face" and len(parts) == 4 and parts[-1].isdigit():
        return f"Face (CelebA test #{int(parts[-1])})"
    return name


def first_sample(model: str | None) -> str | None:
    """The sample the tab opens with: the first one made for ``model`` (else the first of all), or None."""
    names = list(projection_samples())
    return next((name for name in names if sample_generator(name) == model), names[0] if names else None)


def sample_generator(name: str | None) -> str | None:
    """The generator a bundled sample was made for ("digit_7_..." -> "digits"), or None."""
    return SAMPLE_GENERATORS.get((name or "").partition("_")[0])


@dataclass(eq=False)
class SpacePane:
    """One space's results: the target with the found frame boxed, the target under φ, the best generation,
    the projection pasted into the original, the numbers (φ, the class path) and the population."""

    boxed: gr.Image
    framed: gr.Image
    best: gr.Image
    pasted: gr.Image
    details: gr.Markdown
    gallery: gr.Gallery

    @property
    def components(self) -> list:
        return [self.boxed, self.framed, self.best, self.pasted, self.details, self.gallery]

    def cleared(self) -> dict:
        images = {self.boxed: None, self.framed: None, self.best: gr.update(value=None, label=BEST_LABEL), self.pasted: None}  # fmt: skip
        return {**images, self.details: "", self.gallery: []}


@dataclass(eq=False)
class ProjectionTab:
    """The components of the Projection tab, and its event handlers. X and Z run side by side, one
    :class:`SpacePane` each (``best``, ``framed``, ``pasted``, ``gallery`` name the X pane's)."""

    model: gr.Dropdown
    sample: gr.Dropdown
    upload: gr.UploadButton
    notice: gr.Markdown
    editor: gr.ImageEditor
    label: gr.Dropdown
    method: gr.Dropdown
    space: gr.Radio
    transform: gr.Checkbox
    budget: gr.Slider
    population: gr.Slider
    fine_tune_steps: gr.Slider
    run_button: gr.Button
    stop_button: gr.Button
    fine_tune_button: gr.Button
    status: gr.Markdown
    progress: gr.HTML
    panes: dict[str, SpacePane]
    edit_row: EditRow
    projected: gr.State

    best = property(lambda self: self.panes["x"].best)
    framed = property(lambda self: self.panes["x"].framed)
    pasted = property(lambda self: self.panes["x"].pasted)
    gallery = property(lambda self: self.panes["x"].gallery)

    @property
    def run_inputs(self) -> list:
        return [self.editor, self.model, self.label, self.method, self.space, self.transform, self.budget, self.population]  # fmt: skip

    @property
    def results(self) -> list:
        return [component for pane in self.panes.values() for component in pane.components]

    @property
    def outputs(self) -> list:
        return [
            self.status, *self.results, self.projected, self.run_button,
            self.stop_button, self.fine_tune_button, self.sample, self.upload, self.model,
        ]  # fmt: skip

    def choose_sample(self, name: str, model: str) -> dict:
        """A bundled sample into the editor, its predicted class preselected. A sample made for another
        generator switches the generator (a face is never shrunk into a 28×28 digit), with a notice."""
        if name == YOUR_UPLOAD:  # set by an upload: the editor already holds it
            return {self.notice: gr.update()}
        wanted = sample_generator(name)
        if not name or wanted in (None, model) or wanted not in available_models("image"):
            return self._load(projection_samples().get(name), model)
        update = self._load(projection_samples().get(name), wanted)
        switched = f"The generator follows the sample: switched from {model} to **{wanted}**. "
        return update | {self.model: wanted, self.notice: switched + str(update.get(self.notice, ""))}

    def follow_model(self, model: str, sample: str | None) -> dict:
        """When the generator changes under a sample made for another one, the sample follows: the new
        generator's first sample is picked (which loads it), with a notice."""
        wanted = sample_generator(sample)
        if not sample or wanted in (None, model):
            return {self.sample: gr.update()}
        fitting = [name for name in projection_samples() if sample_generator(name) == model]
        if not fitting:
            return {self.sample: None, self.notice: f"⚠ no bundled sample suits {model}: upload an image"}
        return {self.sample: fitting[0], self.notice: f"The sample follows the generator: {fitting[0]} for {model}."}

    def upload_target(self, file: Any, model: str) -> dict:
        """An uploaded file into the editor (the sample list then reads "(your upload)", never an old sample's
        name), or a clear message when it is not a usable image."""
        update = self._load(file, model)
        if self.editor not in update:
            return update
        choices = [(YOUR_UPLOAD, YOUR_UPLOAD), *((sample_label(name), name) for name in projection_samples())]
        return update | {self.sample: gr.update(choices=choices, value=YOUR_UPLOAD)}

    def _load(self, source: Any, model: str) -> dict:
        try:
            value, notice = load_target(source, image_size(model))
        except ValueError as error:
            return {self.notice: f"⚠ {error}"}
        return {**self.cleared(), self.editor: value, self.notice: notice, **self.classes(value, model)}

    def cleared(self) -> dict:
        """The previous projection's results emptied (a new target): images, population, fine-tuning state."""
        empty = {key: value for pane in self.panes.values() for key, value in pane.cleared().items()}
        return {
            **empty,
            self.projected: None,
            self.fine_tune_button: gr.update(interactive=False),
            self.status: "Ready: a new target.",
        }

    def classes(self, editor: dict | None, model: str) -> dict:
        """The class dropdown for ``model``: its classes, the classifier's reading of the target preselected."""
        try:
            return {self.label: gr.update(**class_choice(editor, model))}
        except (ValueError, FileNotFoundError) as error:
            return {self.notice: f"⚠ model {model!r} cannot be loaded: {error}"}

    def run(self, editor, model, label, method, space, transform, budget, population, request: gr.Request = None, progress=gr.Progress()) -> Iterator[dict]:  # fmt: skip
        """Run: project the target, streaming the best generation, the population and the framed target."""
        key = session_id(request)
        try:
            stop = SESSIONS.start(key)
        except RunInProgress as error:
            yield {self.status: f"⚠ {error}"}
            return
        message, finals = None, {}
        cleared = {key: value for pane in self.panes.values() for key, value in pane.cleared().items()}
        yield {**self._controls(running=True, tunable=False), **cleared, self.status: "Starting…"}
        try:
            settings = [
                ProjectionSettings(
                    model=model,
                    method=method,
                    space=name,
                    transform="spatial+color" if transform else "none",
                    label=None if label in (None, "") else int(label),
                    budget=_whole(budget),
                    population=_whole(population),
                )  # fmt: skip
                for name in _spaces(space)
            ]
            target = build_target(editor, "none", image_size(model))
            latest = {}
            for name, frame in stream_spaces(target.image, object_mask(target.weight, target.image), settings, stop):
                latest[name] = frame
                finals.update({name: frame} if frame.done else {})
                spent = sum(item.evaluations for item in latest.values())
                progress((min(spent, len(settings) * settings[0].budget), len(settings) * settings[0].budget), desc="forward passes", unit="passes")  # fmt: skip
                yield self._updates(name, frame, latest, settings[0].budget)
            message = "Stopped before the first step." if not latest else _summary(finals, settings[0].budget)
        except ValueError as error:
            message = f"⚠ {error}"
        except Exception as error:  # shown and logged, so the page stays usable
            logger.exception("projection failed")
            message = f"⚠ internal error: {error!r}"
        finally:
            SESSIONS.finish(key, stop)
        state = _state(finals)
        done = {**self._controls(running=False, tunable=state is not None), self.projected: state}
        yield {**done, **({self.status: message} if message else {})}

    def fine_tune(self, editor, state, steps, request: gr.Request = None) -> Iterator[dict]:
        """Fine-tune a per-run copy of G's weights on the last projection (λ‖θ−θ0‖², the shared model untouched)."""
        key = session_id(request)
        try:
            stop = SESSIONS.start(key)
        except RunInProgress as error:
            yield {self.status: f"⚠ {error}"}
            return
        message, first, last = None, None, None
        yield {**self._controls(running=True, tunable=False), self.status: "Fine-tuning…"}
        try:
            if not state:
                raise ValueError("run a projection first")
            space = state["tuned"] if "tuned" in state else state.get("space", "x")
            projected = Projected(**state["spaces"][space]) if "spaces" in state else Projected(**state)
            pane = self.panes[space]
            target = build_target(editor, "none", image_size(projected.model))
            tuning = device_fine_tune(target.image, object_mask(target.weight, target.image), projected, _whole(steps))
            for frame in until_stopped(tuning, stop):
                first = first or frame
                last = frame
                if frame.tuned is not None:  # later edits of this projection render with the tuned copy
                    TUNED.put(key, projected, frame.tuned)
                status = f"Fine-tuning the {space.upper()} projection (the better one) · step {frame.index}/{steps} · loss {frame.loss:.4f} (generator frame)"  # fmt: skip
                pasted = {pane.pasted: frame.pasted} if frame.pasted else {}
                shown_now = gr.update(value=image_file(frame.output), label=f"Fine-tuning · step {frame.index}/{steps}")
                yield {**as_files({self.status: status, **pasted}), pane.best: shown_now}
            message = _tuned(first, last, space)
            yield self._kept(pane, first, last)
        except ValueError as error:
            message = f"⚠ {error}"
        except Exception as error:
            logger.exception("fine-tuning failed")
            message = f"⚠ internal error: {error!r}"
        finally:
            SESSIONS.finish(key, stop)
        yield {**self._controls(running=False, tunable=bool(state)), self.status: message}

    def stop(self, request: gr.Request = None) -> None:
        """Ask this session's run to end after its current step."""
        SESSIONS.stop(session_id(request))

    def _kept(self, pane: SpacePane, first: TuningFrame | None, last: TuningFrame | None) -> dict:
        """After fine-tuning: the pane keeps whichever of before and after fits the original target better, and
        its label says which (a stopped tuning, whose last loss is unknown, keeps the projection from before)."""
        if first is None:
            return {}
        if better_after(first, last):
            return {pane.best: gr.update(label=f"Fine-tuned ({last.index} steps): kept, it fits better")}
        pasted = {pane.pasted: image_file(first.pasted)} if first.pasted else {}
        return {pane.best: gr.update(value=image_file(first.output), label="Before fine-tuning: kept, it fits better"), **pasted}  # fmt: skip

    def _updates(self, space: str, frame: ProjectionFrame, latest: dict[str, ProjectionFrame], budget: int) -> dict:
        pane = self.panes[space]
        updates = {pane.best: frame.best, pane.framed: frame.framed_target, pane.details: _details(frame)}
        if frame.boxed is not None:
            updates[pane.boxed] = frame.boxed
        if frame.population is not None:
            updates[pane.gallery] = frame.population
        if frame.pasted is not None:
            updates[pane.pasted] = frame.pasted
        updates[self.status] = " · ".join(_line(name, item) for name, item in latest.items())
        return as_files(updates)

    def _controls(self, *, running: bool, tunable: bool) -> dict:
        idle = gr.update(interactive=not running)
        return {
            self.run_button: idle,
            self.sample: idle,
            self.upload: idle,
            self.model: idle,
            self.stop_button: gr.update(interactive=running),
            self.fine_tune_button: gr.update(interactive=tunable and not running),
        }


def _spaces(space: Any) -> list[str]:
    """The spaces to run: "x", "z", or a list of them (the tab's check boxes; both by default)."""
    names = [space] if isinstance(space, str) else list(space or [])
    if not names or any(name not in ("x", "z") for name in names):
        raise ValueError(f"choose X, Z or both, got {space!r}")
    return [name for name in ("x", "z") if name in names]


def _line(space: str, frame: ProjectionFrame) -> str:
    """One space's progress for the status line (a loss named "l1+10*lpips" must not turn the line italic)."""
    frame = replace(frame, status=frame.status.replace("*", "\\*"), loss_name=frame.loss_name.replace("*", "\\*"))
    if frame.done:
        return f"{space.upper()}: {frame.status}"
    return f"{space.upper()}: {frame.status} · best so far {frame.loss_name} {frame.best_loss:.4f} (against the original target)"  # fmt: skip


def _details(frame: ProjectionFrame) -> str:
    """A space's numbers under its panes: the transform found and, for conditional generators, the class path."""
    text = f"**Transform found** · {frame.transform_note}"
    if frame.class_path:
        text += (
            f"  \n**Class search** (the best member's class as the search went) · {class_path_text(frame.class_path)}"
        )
    return text


def _summary(finals: dict[str, ProjectionFrame], budget: int) -> str:
    """The closing lines: each space's last status and, when every space finished, how Z ends against X."""
    lines = " · ".join(_line(name, frame) for name, frame in finals.items())
    if any(frame.projected is None for frame in finals.values()):  # stopped: no final figure to compare
        return lines
    spaces = {name: {"final_loss": frame.best_loss} for name, frame in finals.items()}
    return f"{lines}  \n{projection_summary(spaces, budget)}"


def _state(finals: dict[str, ProjectionFrame]) -> dict | None:
    """What Fine-tune needs: each finished space's projection and which of them fits better (it is tuned)."""
    done = {name: frame for name, frame in finals.items() if frame.projected is not None}
    if not done:
        return None
    tuned = min(done, key=lambda name: done[name].best_loss)
    return {"spaces": {name: asdict(frame.projected) for name, frame in done.items()}, "tuned": tuned}


def better_after(first: TuningFrame, last: TuningFrame | None) -> bool:
    """Whether the fine-tuned generation fits the original target better than the projection before it."""
    known = last is not None and last.original_loss is not None and first.original_loss is not None
    return known and last.original_loss < first.original_loss


def _tuned(first: TuningFrame | None, last: TuningFrame | None, space: str = "x") -> str:
    """The closing sentence of a fine-tuning: the loss against the original target before and after, and
    which of the two the pane keeps."""
    if first is None:
        return "Stopped before the first fine-tuning step."
    if last.original_loss is None:  # stopped: only the generator-frame loss is known at the last step
        return f"Stopped at step {last.index}: loss (generator frame) {first.loss:.4f} → {last.loss:.4f}; the pane keeps the projection from before."  # fmt: skip
    kept = "kept the fine-tuned one" if better_after(first, last) else "kept the projection from before (fine-tuning made it worse)"  # fmt: skip
    return (
        f"Fine-tuned the {space.upper()} projection {last.index} steps: loss {first.original_loss:.4f} → {last.original_loss:.4f} against the "
        f"original target; {kept} ({first.loss:.4f} → {last.loss:.4f} in the generator frame, which the tuning minimises; "
        "a per-run copy of the generator was tuned, the shipped weights are untouched)"
    )


def class_choice(editor: dict | None, model: str) -> dict:
    """The class dropdown's settings for ``model`` and the editor's target (the classifier's reading
    preselected); raises ``ValueError`` / ``FileNotFoundError`` when the model cannot be loaded."""
    names = class_names(model)
    if not names:
        return dict(choices=[], value=None, interactive=False, label="Class (unconditional)")
    predicted = None
    if editor and editor.get("background") is not None:
        target = build_target(editor, "none", image_size(model))
        predicted = predicted_class(model, target.image, object_mask(target.weight, target.image))
    value = str(predicted if predicted is not None else 0)
    label = f"Class (classifier reads {predicted})" if predicted is not None else "Class"
    return dict(choices=names, value=value, interactive=True, label=label)


def opening_target(model: str | None) -> dict:
    """What the tab opens with: ``model``'s first sample loaded (sample, editor, notice, class settings),
    or nothing to preselect (an empty editor, "Pick a sample...") when there is none or it cannot load."""
    empty = dict(sample=None, editor=None, notice="Pick a sample or upload an image.", label=None)
    name = first_sample(model)
    if model is None or name is None or sample_generator(name) not in (None, model):
        return empty
    try:
        editor, notice = load_target(projection_samples()[name], image_size(model))
        return dict(sample=name, editor=editor, notice=notice, label=class_choice(editor, model))
    except (ValueError, FileNotFoundError) as error:
        logger.warning("the projection tab opens without a sample: %s", error)
        return empty


def _whole(value: Any) -> Any:
    """A slider's float as an int when it is whole; anything else passes on to validation."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Layout and wiring of the tab.


def _target_column(models: list[str]) -> dict:
    default = "digits" if "digits" in models else (models[0] if models else None)
    opening = opening_target(default)
    with gr.Column(scale=1, min_width=300):
        model = gr.Dropdown(models, value=default, label="Generator G", elem_id="projection-model")
        samples = [(sample_label(name), name) for name in projection_samples()]
        sample = gr.Dropdown(samples, value=opening["sample"], label="Sample", elem_id="projection-sample")
        upload = gr.UploadButton("Upload image…", file_types=["image"], size="sm", elem_id="projection-upload")
        notice = gr.Markdown(opening["notice"], elem_id="projection-notice")
        gr.Markdown(
            "**Target.** Paint over the object: its box is the object mask (nothing painted: the box of what differs "
            "from the border).", elem_classes=["editor-help"],
        )  # fmt: skip
        editor = gr.ImageEditor(
            value=opening["editor"], type="numpy", image_mode="RGBA", sources=[], transforms=[], layers=False, format="png",
            brush=gr.Brush(colors=["#00c0ff"], color_mode="fixed", default_size=12), eraser=gr.Eraser(default_size=12),
            label="Target", show_label=False, buttons=[],
            height=300, elem_id="projection-editor", canvas_size=(256, 256),
        )  # fmt: skip
        classes = opening["label"] or dict(choices=[], value=None, label="Class", interactive=False)
        label = gr.Dropdown(**classes, elem_id="projection-class")
        with gr.Row():
            method = gr.Dropdown(METHOD_CHOICES, value="basincma", label="Method", elem_id="projection-method")
            space = gr.CheckboxGroup(SPACE_CHOICES, value=["x", "z"], label="Spaces (side by side)", elem_id="projection-space")  # fmt: skip
        transform = gr.Checkbox(True, label="Transform search (scale, shift, brightness)", elem_id="projection-transform")  # fmt: skip
        budget = gr.Slider(
            100,
            MAX_BUDGET,
            value=1800,
            step=100,
            label="Budget (forward passes per space)",
            elem_id="projection-budget",
        )
        population = gr.Slider(
            2, MAX_POPULATION, value=12, step=1, label="Population / seeds K", elem_id="projection-population"
        )
        fine_tune_steps = gr.Slider(
            10, MAX_FINE_TUNE_STEPS, value=200, step=10, label="Fine-tune steps", elem_id="projection-fine-tune-steps"
        )
    return dict(
        model=model, sample=sample, upload=upload, notice=notice, editor=editor, label=label, method=method,
        space=space, transform=transform, budget=budget, population=population, fine_tune_steps=fine_tune_steps,
    )  # fmt: skip


def _results_column() -> dict:
    with gr.Column(scale=2):
        with gr.Row():
            run_button = gr.Button("Project", variant="primary", elem_id="projection-run")
            stop_button = gr.Button("Stop", variant="stop", interactive=False, elem_id="projection-stop")
            fine_tune_button = gr.Button("Fine-tune the better", interactive=False, elem_id="projection-fine-tune")
        status = gr.Markdown("Ready.", elem_id="projection-status")
        progress = progress_strip("projection-progress")
        with gr.Row(equal_height=False):  # X and Z side by side, as in the other tabs
            panes = {space: _space_pane(space) for space in ("x", "z")}
        edit_row = build_edit_row([str(digit) for digit in range(10)])
    return dict(run_button=run_button, stop_button=stop_button, fine_tune_button=fine_tune_button, status=status, progress=progress, panes=panes, edit_row=edit_row)  # fmt: skip


BEST_LABEL = "Best generation"


def _space_pane(space: str) -> SpacePane:
    """One space's row of results (elem ids ``projection-best`` for X, ``projection-best-z`` for Z, ...)."""
    suffix = "" if space == "x" else f"-{space}"
    image = dict(interactive=False, height=150, format="png", buttons=["fullscreen"], min_width=100)
    with gr.Column(min_width=300):
        gr.Markdown(f"#### {SPACE_TITLES[space]}", elem_id=f"projection-title{suffix}")
        with gr.Row(equal_height=True):
            boxed = gr.Image(label="Target, frame found", elem_id=f"projection-boxed{suffix}", **image)
            best = gr.Image(label=BEST_LABEL, elem_id=f"projection-best{suffix}", **image)
        with gr.Row(equal_height=True):
            framed = gr.Image(label="Target under φ", elem_id=f"projection-framed{suffix}", **image)
            pasted = gr.Image(label="Pasted into target", elem_id=f"projection-pasted{suffix}", **image)
        details = gr.Markdown("", elem_id=f"projection-details{suffix}")
        gallery = gr.Gallery(
            label=f"{space.upper()} population (loss against the original target)", columns=6, height=110,
            format="png", elem_id=f"projection-gallery{suffix}",
        )  # fmt: skip
    return SpacePane(boxed=boxed, framed=framed, best=best, pasted=pasted, details=details, gallery=gallery)


def _wire(tab: ProjectionTab) -> None:
    running = dict(outputs=tab.outputs, **on_strip(tab.progress))
    tab.run_button.click(tab.run, tab.run_inputs, api_name=False, **running)
    tuning = [tab.editor, tab.projected, tab.fine_tune_steps]
    tab.fine_tune_button.click(tab.fine_tune, tuning, api_name=False, **running)
    tab.stop_button.click(tab.stop, None, None, api_name=False, concurrency_limit=None, show_progress="hidden")
    results = [*tab.results, tab.projected, tab.fine_tune_button, tab.status]
    loaded = [tab.editor, tab.notice, tab.label, *results]  # a new target clears the old results
    tab.sample.change(tab.choose_sample, [tab.sample, tab.model], [*loaded, tab.model], api_name=False)
    tab.upload.upload(tab.upload_target, [tab.upload, tab.model], [*loaded, tab.sample], api_name=False)
    tab.model.change(tab.follow_model, [tab.model, tab.sample], [tab.sample, tab.notice], api_name=False)
    reading = dict(fn=tab.classes, inputs=[tab.editor, tab.model], outputs=[tab.label, tab.notice], api_name=False)
    tab.model.change(**reading)
    tab.editor.change(**reading, trigger_mode="always_last", show_progress="hidden", concurrency_limit=None)
    wire_edit_row(tab.edit_row, tab.editor, tab.projected)


def build_tab() -> ProjectionTab:
    models = available_models("image")
    conditional = [name for name in models if get_spec(name).conditional]
    if not models:
        gr.Markdown("⚠ No image model weights found: train `digits` or `faces64` first (see the README).")
    gr.Markdown(
        "Project a photo into a generator (pix2latent, Huh et al. 2020): gradient (Adam, L-BFGS) or CMA-ES "
        "searches, BasinCMA mixing both, optionally over a transform of the target. "
        + (f"Class-conditional: {', '.join(conditional)}." if conditional else "")
    )
    with gr.Row():
        parts = _target_column(conditional + [name for name in models if name not in conditional])
        parts.update(_results_column())
    tab = ProjectionTab(**parts, projected=gr.State(None))
    _wire(tab)
    return tab
