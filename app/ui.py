"""The page layout: tabs, components, and events wired to the handlers of :mod:`app.image_tab`."""

from __future__ import annotations

import importlib
import logging

import gradio as gr

from app.image_tab import ImageTab
from app.runs import MAX_HYPOTHESES, MAX_STEPS, default_lrs, warm_up
from app.session import SESSIONS, session_id
from app.targets import PRESETS, build_target, sample_paths
from engines.losses import lpips_available
from engines.models import available_models

logger = logging.getLogger(__name__)

INTRO = """# Landscape Studio
Recover the input of a pretrained generator by gradient descent, in two spaces side by side:
**X-space** optimises the generator's latent x directly; **Z-space** optimises z through a learned
mapping network Θ, x = Θ(z) (*landscape learning*, Liu et al., ICCV 2023). Paint over the target
to hide pixels from the loss; **Hypotheses** runs K random starts to show what the mask hides."""

CSS = """
#x-image img, #z-image img, #seen img { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }
#x-gallery img, #z-gallery img { image-rendering: pixelated; }
.caption p { font-size: 0.95rem; margin: 0; }
"""

OPTIMIZER_CHOICES = [("Adam", "adam"), ("SGD", "sgd"), ("L-BFGS", "lbfgs")]
LOSS_LABELS = {"mse": "pixel (MSE)", "l1": "pixel (L1)", "mse+lpips": "MSE + LPIPS"}


def _loss_choices() -> list[tuple[str, str]]:
    names = ["mse", "l1"] + (["mse+lpips"] if lpips_available() else [])
    return [(LOSS_LABELS[name], name) for name in names]


def _target_column(models: list[str]) -> dict:
    samples = list(sample_paths())
    with gr.Column(scale=1, min_width=300):
        model = gr.Dropdown(models, value=models[0] if models else None, label="Forward model F")
        with gr.Row():
            sample = gr.Dropdown(samples, value=None, label="Sample target", scale=2, elem_id="sample")
            upload = gr.UploadButton("Upload image…", file_types=["image"], scale=1, elem_id="upload")
        notice = gr.Markdown("Pick a sample or upload an image.", elem_id="notice")
        editor = gr.ImageEditor(
            type="numpy", image_mode="RGBA", sources=[], transforms=[], layers=False, format="png",
            brush=gr.Brush(colors=["#ff00ff"], color_mode="fixed", default_size=16), eraser=gr.Eraser(default_size=16),
            label="Target: paint over what is unknown", height=320, elem_id="editor", canvas_size=(256, 256),
        )  # fmt: skip
        preset = gr.Radio(list(PRESETS), value="none", label="Mask preset (hidden region)", elem_id="preset")
        seen = gr.Image(label="What the optimiser sees", interactive=False, height=160, elem_id="seen", format="png")
    return dict(model=model, sample=sample, upload=upload, notice=notice, editor=editor, preset=preset, seen=seen)


def _settings(model: str | None) -> dict:
    with gr.Accordion("Settings", open=True):
        with gr.Row():
            optimizer = gr.Dropdown(OPTIMIZER_CHOICES, value="adam", label="Optimiser")
            loss = gr.Dropdown(_loss_choices(), value="mse", label="Loss")
            steps = gr.Slider(1, MAX_STEPS, value=200, step=1, label="Steps")
        with gr.Row():
            lr_x_default, lr_z_default = default_lrs(model or "", "adam")
            lr_x = gr.Number(lr_x_default, label="X-space learning rate", minimum=0)
            lr_z = gr.Number(lr_z_default, label="Z-space learning rate", minimum=0)
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
            with gr.Column():
                x_image = gr.Image(label="X-space", interactive=False, height=224, elem_id="x-image", format="png")
                x_caption = gr.Markdown("**X-space** · step –", elem_id="x-caption", elem_classes="caption")
            with gr.Column():
                z_image = gr.Image(label="Z-space (Θ)", interactive=False, height=224, elem_id="z-image", format="png")
                z_caption = gr.Markdown("**Z-space (Θ)** · step –", elem_id="z-caption", elem_classes="caption")
        chart = gr.Plot(label="Loss vs step", elem_id="chart")
        parts = dict(run_button=run_button, hypotheses_button=hypotheses_button, stop_button=stop_button)
        parts.update(status=status, x_image=x_image, z_image=z_image, x_caption=x_caption, z_caption=z_caption)
        parts.update(_settings(model), chart=chart)
        with gr.Row():
            parts["x_gallery"] = gr.Gallery(
                label="X-space hypotheses", columns=4, height=240, format="png", elem_id="x-gallery"
            )
            parts["z_gallery"] = gr.Gallery(
                label="Z-space hypotheses", columns=4, height=240, format="png", elem_id="z-gallery"
            )
    return parts


def _wire(tab: ImageTab) -> None:
    running = dict(outputs=tab.run_outputs, show_progress="hidden")
    tab.run_button.click(tab.run, tab.run_inputs, api_name="run", **running)
    tab.hypotheses_button.click(tab.run_hypotheses, tab.run_inputs + [tab.hypotheses], api_name="hypotheses", **running)
    tab.stop_button.click(tab.stop, None, None, api_name="stop", concurrency_limit=None, show_progress="hidden")
    tab.sample.change(tab.choose_sample, [tab.sample, tab.model], [tab.editor, tab.notice], api_name=False)
    tab.upload.upload(tab.upload_target, [tab.upload, tab.model], [tab.editor, tab.notice], api_name=False)
    for control in (tab.model, tab.optimizer):
        control.change(default_lrs, [tab.model, tab.optimizer], [tab.lr_x, tab.lr_z], api_name=False)
    preview = dict(fn=tab.preview, inputs=[tab.editor, tab.preset, tab.model], outputs=[tab.seen, tab.notice])
    for event in (tab.editor.change, tab.preset.change):
        event(**preview, api_name=False, trigger_mode="always_last", show_progress="hidden", concurrency_limit=None)


def _landscape(tab: ImageTab) -> None:
    try:
        from app.landscape_panel import build_landscape_panel
    except ImportError as error:
        logger.warning("landscape panel unavailable: %s", error)
        return

    def prepare(forward, editor, preset):
        target = build_target(editor, preset, int(forward.output_shape[-1]))
        return target.image, target.weight

    build_landscape_panel(model=tab.model, target=tab.editor, mask=tab.preset, prepare=prepare)


def build_image_tab() -> ImageTab:
    models = available_models("image")
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


def _optional_tab(module: str, builder: str, title: str) -> None:
    try:
        build = getattr(importlib.import_module(module), builder)
    except (ImportError, AttributeError) as error:
        logger.info("%s tab left out: %s", title, error)
        return
    with gr.Tab(title):
        build()


def _forget(request: gr.Request) -> None:
    SESSIONS.forget(session_id(request))


def build_app() -> gr.Blocks:
    """The whole page: the image tab, plus the 3D pose tab once :mod:`app.pose_tab` exists."""
    with gr.Blocks(title="Landscape Studio", analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        with gr.Tab("Image inversion"):
            tab = build_image_tab()
        _optional_tab("app.pose_tab", "build_pose_tab", "3D pose")
        if sample_paths() and tab.model.value:
            first = next(iter(sample_paths()))
            demo.load(lambda: first, None, tab.sample, api_name=False)
        demo.unload(_forget)
    return demo


def theme() -> gr.Theme:
    """The default theme with system fonts only (nothing is fetched: the app runs offline)."""
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
