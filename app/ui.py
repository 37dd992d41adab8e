"""The page: intro, one ``gr.Tab`` per module of :mod:`app.tabs`, page-level events, theme and CSS."""

from __future__ import annotations

import importlib
import logging

import gradio as gr

from app.session import SESSIONS, session_id
from app.tabs.image import build_image_tab
from app.targets import sample_paths

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
    """The whole page: the image tab, plus the 3D pose tab once :mod:`app.tabs.pose` exists."""
    with gr.Blocks(title="Landscape Studio", analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        with gr.Tab("Image inversion"):
            tab = build_image_tab()
        _optional_tab("app.tabs.pose", "build_pose_tab", "3D pose")
        if sample_paths() and tab.model.value:
            first = next(iter(sample_paths()))
            demo.load(lambda: first, None, tab.sample, api_name=False)
        demo.unload(_forget)
    return demo


def theme() -> gr.Theme:
    """The default theme with system fonts only (nothing is fetched: the app runs offline)."""
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
