"""The page: intro, one ``gr.Tab`` per module of :mod:`app.tabs`, page-level events, theme and CSS."""

from __future__ import annotations

import importlib
import logging
import pkgutil

import gradio as gr

from app.api import build_api
from app.claims import headline
from app.gradio_patches import cache_data_model_schemas, cache_init_signatures
from app.media import keep_streams_pruned
from app.session import SESSIONS, session_id
from app.tabs.image import build_image_tab
from app.tabs.learn import forget_session as forget_learning
from app.targets import default_sample

logger = logging.getLogger(__name__)
IDLE_POLL_SECONDS = 0.05  # how often an idle server's queue looks for new work (Gradio: every 1 ms)
SESSIONS_KEPT = 32  # sessions whose page state the server keeps (Gradio: 10,000, about 1 MB each); oldest go first
CACHE_LIMITS = (1800, 3600)  # every 30 min, delete Gradio cache files (uploads, results) older than an hour
KEPT_PICTURES = ("seen", "editor")  # shown for as long as the target stays: never pruned early

CSS = """
#x-image img, #z-image img, #zx-image img, #encoder-image img, #final-image img, #seen img { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }
#x-gallery img, #z-gallery img, #zx-gallery img { image-rendering: pixelated; }
.hypotheses .thumbnail-item { display: flex; flex-direction: column; aspect-ratio: auto; height: auto; }
.hypotheses .thumbnail-item img { aspect-ratio: 1; width: 100%; height: auto; }
.hypotheses .grid-wrap { height: auto !important; max-height: none; min-height: 0; }
.hypotheses .caption-label { position: static; transform: none; max-width: none; background: none; padding: 2px 0; }
.caption p { font-size: 0.85rem; margin: 0; line-height: 1.3; }
button:disabled, button[disabled] { opacity: 0.45; cursor: not-allowed; filter: grayscale(1); box-shadow: none; }
"""


def tab_modules() -> list:
    """Every module of :mod:`app.tabs` that is a tab of its own (``TITLE``, ``ORDER``, ``build_tab``), in order.

    The image tab comes first and is built by :func:`build_app` itself; the landscape panel lives inside it.
    """
    import app.tabs

    modules = []
    for info in pkgutil.iter_modules(app.tabs.__path__):
        try:
            module = importlib.import_module(f"app.tabs.{info.name}")
        except ImportError as error:
            logger.warning("tab module app.tabs.%s left out: %s", info.name, error)
            continue
        if hasattr(module, "TITLE") and hasattr(module, "build_tab"):
            modules.append(module)
    return sorted(modules, key=lambda module: (module.ORDER, module.TITLE))


def _forget(request: gr.Request) -> None:
    SESSIONS.forget(session_id(request))
    forget_learning(session_id(request))  # its learning job stops, its own Θ go


def build_app() -> gr.Blocks:
    """The whole page: the image tab, then every other tab of :mod:`app.tabs` (:func:`tab_modules`)."""
    cache_data_model_schemas()  # every streamed frame rebuilds the left-out outputs' configs: see app.gradio_patches
    cache_init_signatures()  # and every new session all of the page's
    with gr.Blocks(title="Landscape Studio", analytics_enabled=False, delete_cache=CACHE_LIMITS) as demo:
        gr.Markdown(headline(), elem_id="headline")
        with gr.Tab("Image inversion"):
            tab = build_image_tab()
        for module in tab_modules():
            with gr.Tab(module.TITLE):
                module.build_tab()
        if default_sample() and tab.model.value:
            first = default_sample()
            demo.load(lambda: first, None, tab.sample, api_name=False)
        build_api()
        demo.unload(_forget)
    keep_streams_pruned(streamed_components(demo))
    return demo


def streamed_components(demo: gr.Blocks) -> list:
    """The page's result pictures (images and galleries that are only ever outputs, such as the X, Z and Z→X panes
    and the API's results), whose cached files :func:`app.media.prune_streamed` may delete after minutes; inputs,
    the target editor and "what the optimiser sees" stay with Gradio's hour (``CACHE_LIMITS``)."""
    inputs = {id(block) for function in demo.fns.values() for block in function.inputs}
    return [
        block for block in demo.blocks.values()
        if isinstance(block, (gr.Image, gr.Gallery)) and id(block) not in inputs and block.elem_id not in KEPT_PICTURES
    ]  # fmt: skip


def quiet_queue(demo: gr.Blocks) -> gr.Blocks:
    """``demo`` (already queued) with Gradio's idle polling slowed down: its queue loop wakes every 1 ms and its
    progress loop every 10 ms while nothing runs, about 7% of a core on an idle server. Every
    ``IDLE_POLL_SECONDS`` instead adds at most that much delay before a queued run starts."""
    queue = getattr(demo, "_queue", None)
    if queue is None or not hasattr(queue, "sleep_when_free"):
        logger.warning("Gradio's queue has no sleep_when_free: idle polling left as it is")
        return demo
    queue.sleep_when_free = IDLE_POLL_SECONDS
    queue.progress_update_sleep_when_free = max(queue.progress_update_sleep_when_free, IDLE_POLL_SECONDS)
    return demo


def launch_options() -> dict:
    """What ``demo.launch`` needs besides host and port (app.py and the tests serve the page the same way)."""
    return dict(css=CSS, theme=theme(), footer_links=[], ssr_mode=False, state_session_capacity=SESSIONS_KEPT)


def theme() -> gr.Theme:
    """The default theme with system fonts only (nothing is fetched: the app runs offline)."""
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
