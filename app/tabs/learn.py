"""The "Learn Θ" tab: watch Algorithm 1 learn the landscape, round by round, and keep the Θ for this session.

The work is in :mod:`app.learn_runs` (no Gradio); the handlers here turn its frames into figures and
component updates. :func:`build_theta_upload` is the Image tab's "load a Θ file" control.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.figures import X_COLOUR, Z_COLOUR, ZX_COLOUR, light_template
from app.learn_runs import (
    DEFAULT_SECONDS,
    MAPPINGS,
    MAX_SECONDS,
    SLOW_MODELS,
    LearnFrame,
    LearnSettings,
    learn_frames,
    load_theta_file,
    own_targets,
    write_theta_file,
)
from app.media import image_file
from app.session import SessionRegistry, session_id
from app.tabs.landscape import CONTOUR_LEVELS, _colour_range, _surface_traces
from engines.models.registry import load_model
from engines.train.live import live_models

logger = logging.getLogger(__name__)
TITLE, ORDER = "Learn Θ", 40
LEARNING = SessionRegistry()  # one learning job per session; its stop event (a closed tab sets it too)
EXPLAINER = (
    "Landscape learning (Algorithm 1) live: each **round** runs short Z-space inversions with Θ fixed, stores "
    "every z they visit, then updates Θ on them. After each round Θ is probed on held-out targets: watch "
    "**Z@20** (20 Z-space steps) drop below **X@20**, and the Z loss landscape of one target change."
)


def forget_session(session: str) -> None:
    """A closed tab: its learning job stops within a round and its Θ are dropped."""
    LEARNING.forget(session)
    MAPPINGS.forget(session)


def trajectory_figure(frame: LearnFrame) -> go.Figure:
    rounds = list(range(1, len(frame.trajectory_loss) + 1))
    figure = go.Figure(go.Scatter(x=rounds, y=frame.trajectory_loss, mode="lines+markers", line=dict(color=Z_COLOUR), name="trajectory loss"))  # fmt: skip
    figure.update_layout(title="Trajectory loss per round (Θ fixed, end of the round's inversions)", xaxis_title="round", yaxis_title="loss", height=300, template=light_template(), margin=dict(l=10, r=10, t=50, b=10))  # fmt: skip
    return figure


def probe_figure(frame: LearnFrame) -> go.Figure:
    """Z@20 and Z→X@200 per round against X@20 and X@200 (X does not depend on Θ: flat, dashed)."""
    rounds = list(range(len(frame.probes)))
    figure = go.Figure()
    curves = (("z_loss", "20", "Z@20", Z_COLOUR, None), ("zx_loss", "200", "Z→X@200", ZX_COLOUR, None),
              ("x_loss", "20", "X@20", X_COLOUR, "dash"), ("x_loss", "200", "X@200", X_COLOUR, "dot"))  # fmt: skip
    for space, step, name, colour, dash in curves:
        points = [(r, probe[space][step]) for r, probe in zip(rounds, frame.probes) if step in probe[space]]
        if points:
            x, y = zip(*points)
            figure.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines+markers", line=dict(color=colour, dash=dash)))
    figure.update_layout(title="Held-out targets: mean loss after 20 steps per round (200: for the final Θ)", xaxis_title="round (0 = before learning)", yaxis_title="loss", yaxis_type="log", height=320, template=light_template(), margin=dict(l=10, r=10, t=50, b=10))  # fmt: skip
    return figure


def landscapes_figure(before: dict | None, now: dict | None, rounds: int) -> go.Figure:
    """The Z loss landscape of one held-out target at round 0 and now, side by side, one colour scale."""
    titles = ["Z landscape at round 0", f"Z landscape after round {rounds}"]
    figure = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.08)
    shown = [surface for surface in (before, now) if surface is not None]
    low, high = _colour_range(shown) if shown else (0.0, 1.0)
    levels = dict(start=low, end=high, size=(high - low) / CONTOUR_LEVELS or 1.0)
    for col, surface in enumerate((before, now), start=1):
        for trace in _surface_traces(surface, "Contour", levels) if surface is not None else []:
            figure.add_trace(trace, row=1, col=col)
    figure.update_layout(coloraxis=dict(cmin=low, cmax=high, colorscale="Viridis", colorbar=dict(title="loss")), height=380, margin=dict(l=10, r=10, t=50, b=10))  # fmt: skip
    figure.update_xaxes(title_text="PC 1 (u)")
    figure.update_yaxes(title_text="PC 2 (v)")
    return figure


def progress_html(frame: LearnFrame) -> str:
    share = 0 if not frame.budget else min(frame.learning_seconds / frame.budget, 1.0)
    left = max(frame.budget - frame.learning_seconds, 0)
    text = f"place in line: {frame.place}" if frame.place else f"{frame.round} rounds · {left:.0f} s left"
    bar = f"<div style='background:#ddd;height:10px;border-radius:5px'><div style='background:{Z_COLOUR};width:{100 * share:.0f}%;height:10px;border-radius:5px'></div></div>"  # fmt: skip
    return f"<div id='learn-progress-bar' data-rounds='{frame.round}'>{bar}<small>{text}</small></div>"


def reconstruction_gallery(frame: LearnFrame) -> list[tuple[str, str]]:
    shown = []
    for number, (target, after_2, after_20) in enumerate(frame.reconstructions or [], start=1):
        shown += [(image_file(target), f"target {number}"), (image_file(after_2), "Z, 2 steps"), (image_file(after_20), "Z, 20 steps")]  # fmt: skip
    return shown


class LearnTab:
    """The tab's components and handlers."""

    def __init__(self) -> None:
        models = live_models()
        default = "digits" if "digits" in models else (models[0] if models else None)
        gr.Markdown(EXPLAINER)
        with gr.Row():
            with gr.Column(scale=1):
                self.model = gr.Dropdown(models, value=default, label="Model", elem_id="learn-model")
                self.warning = gr.Markdown("", elem_id="learn-warning")
                self.start = gr.Radio(
                    ["random", "shipped"], value="random", label="Start from Θ", elem_id="learn-start"
                )
                self.seconds = gr.Slider(5, MAX_SECONDS, value=DEFAULT_SECONDS.get(default or "", 30), step=5, label=f"Learning budget (seconds, at most {MAX_SECONDS})", elem_id="learn-seconds")  # fmt: skip
                self.files = gr.File(label="Your own targets (optional, up to 64 images; image models)", file_count="multiple", file_types=["image"], elem_id="learn-files")  # fmt: skip
                with gr.Row():
                    self.start_button = gr.Button("Start", variant="primary", elem_id="learn-start-button")
                    self.stop_button = gr.Button("Stop", variant="stop", interactive=False, elem_id="learn-stop")
                self.use_button = gr.Button("Use this Θ (this browser session only)", interactive=False, elem_id="learn-use")  # fmt: skip
                self.download = gr.File(label="Download Θ (safetensors)", interactive=False, elem_id="learn-download")
            with gr.Column(scale=2):
                self.status = gr.Markdown("Ready: press Start.", elem_id="learn-status")
                self.progress = gr.HTML(progress_html(LearnFrame(status="")), elem_id="learn-progress")
                with gr.Row():
                    self.trajectory = gr.Plot(label="Trajectory loss", elem_id="learn-trajectory")
                    self.probe = gr.Plot(label="Z vs X per round", elem_id="learn-probe")
                self.landscapes = gr.Plot(label="Z loss landscape: round 0 and now", elem_id="learn-landscapes")
                self.reconstructions = gr.Gallery(label="Z reconstructions of 4 held-out targets after 2 and 20 steps", columns=12, height="auto", object_fit="contain", format="png", elem_id="learn-reconstructions")  # fmt: skip

    @property
    def outputs(self) -> list:
        return [self.status, self.progress, self.trajectory, self.probe, self.landscapes, self.reconstructions,
                self.start_button, self.stop_button, self.use_button, self.download]  # fmt: skip

    def _controls(self, running: bool, learned: bool = False) -> dict:
        return {self.start_button: gr.update(interactive=not running), self.stop_button: gr.update(interactive=running), self.use_button: gr.update(interactive=learned and not running)}  # fmt: skip

    def run(self, model: str, start: str, seconds: float, files: list | None, request: gr.Request = None) -> Iterator[dict]:  # fmt: skip
        """Start: wait for the server's learning slot, then stream every round's figures."""
        key = session_id(request)
        try:
            settings = LearnSettings(model=model, start=start, seconds=float(seconds))
            own = own_targets(files, load_model(model)) if files else None
            stop = LEARNING.start(key)
        except (ValueError, RuntimeError) as error:
            yield {self.status: f"⚠ {error}"}
            return
        yield {**self._controls(running=True), self.download: None, self.status: "Starting…"}
        frame = None
        try:
            for frame in learn_frames(settings, stop, own=own, session=key):
                yield self._show(frame)
        except ValueError as error:
            yield {self.status: f"⚠ {error}"}
        finally:
            LEARNING.finish(key, stop)
        learned = MAPPINGS.last_learned(key)
        finished = frame is not None and frame.done and frame.round > 0 and learned is not None
        yield {**self._controls(running=False, learned=finished), self.download: str(write_theta_file(learned)) if finished else None}  # fmt: skip

    def _show(self, frame: LearnFrame) -> dict:
        update = {self.status: frame.status, self.progress: progress_html(frame)}
        if frame.place:
            return update
        before, now = frame.landscapes
        return update | {
            self.trajectory: trajectory_figure(frame),
            self.probe: probe_figure(frame),
            self.landscapes: landscapes_figure(before, now, frame.round),
            self.reconstructions: reconstruction_gallery(frame) if frame.reconstructions else gr.update(visible=False),
        }

    def stop(self, request: gr.Request = None) -> None:
        LEARNING.stop(session_id(request))

    def use(self, request: gr.Request = None) -> str:
        key = session_id(request)
        learned = MAPPINGS.last_learned(key)
        if learned is None:
            return "⚠ nothing learned in this session yet"
        MAPPINGS.use(key, learned)
        return f"Runs in this session's Image and 3D pose tabs now use this Θ for **{learned.model}** (other visitors keep the shipped Θ)."  # fmt: skip

    def follow_model(self, model: str) -> dict:
        return {self.seconds: DEFAULT_SECONDS.get(model, 30), self.warning: SLOW_MODELS.get(model, "")}


def build_tab() -> LearnTab:
    tab = LearnTab()
    tab.start_button.click(tab.run, [tab.model, tab.start, tab.seconds, tab.files], tab.outputs, api_name=False, concurrency_limit=None, show_progress="hidden")  # fmt: skip
    tab.stop_button.click(tab.stop, None, None, api_name=False, concurrency_limit=None, show_progress="hidden")
    tab.use_button.click(tab.use, None, tab.status, api_name=False, concurrency_limit=None, show_progress="hidden")
    tab.model.change(tab.follow_model, tab.model, [tab.seconds, tab.warning], api_name=False)
    return tab


def build_theta_upload(model: gr.Dropdown) -> None:
    """The Image tab's "Load a Θ file" button: a Θ for the chosen model, this session only (shape-checked)."""
    upload = gr.UploadButton("Load a Θ file (.safetensors)", file_types=[".safetensors"], size="sm", elem_id="theta-upload")  # fmt: skip
    notice = gr.Markdown("", elem_id="theta-notice")
    upload.upload(load_theta, [upload, model], notice, api_name=False)


def load_theta(file: Any, model: str, request: gr.Request = None) -> str:
    """An uploaded Θ file for ``model`` into this session, or a clear message why not."""
    try:
        theta = load_theta_file(getattr(file, "name", file), model)
    except ValueError as error:
        return f"⚠ Θ not loaded: {error}"
    MAPPINGS.use(session_id(request), theta)
    return f"Θ loaded for **{model}**: Runs in this session use it (other visitors keep the shipped Θ)."
