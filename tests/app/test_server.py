"""The served page at rest: an idle server barely uses the CPU, and a disabled button looks disabled.

Serves the real page the way ``app.py`` does (:func:`app.ui.quiet_queue`, :func:`app.ui.launch_options`).
"""

from __future__ import annotations

import io
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    from app.ui import build_app, launch_options, quiet_queue

    demo = quiet_queue(build_app().queue(default_concurrency_limit=4, max_size=64))
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options())
    yield f"http://127.0.0.1:{port}"
    demo.close()


def test_an_idle_server_uses_under_3_percent_of_a_core(server):
    """Gradio's queue polls every 1 ms when idle (about 7% of a core); the page's server polls every 50 ms."""
    time.sleep(1.0)  # let start-up work settle
    started, cpu = time.monotonic(), time.process_time()
    time.sleep(5.0)
    share = (time.process_time() - cpu) / (time.monotonic() - started)
    assert share < 0.03, f"idle server used {100 * share:.1f}% of a core"


def test_a_disabled_stop_button_looks_disabled(server):
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).is_file(), "install Debian's chromium (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        stop, run = page.locator("#stop"), page.locator("#run")
        expect(stop).to_be_disabled(timeout=30_000)
        styles = "(node) => [getComputedStyle(node).opacity, getComputedStyle(node).cursor]"
        opacity, cursor = stop.evaluate(styles)
        assert float(opacity) <= 0.5 and cursor == "not-allowed"
        assert float(run.evaluate(styles)[0]) == 1.0  # an enabled button stays as it was
        # Gradio's own disabled style only halves the opacity: a pale red Stop still reads as a live button.
        assert _colourfulness(stop.screenshot()) < 10 < _colourfulness(run.screenshot())
        browser.close()


def _colourfulness(png: bytes) -> float:
    """Mean of max(R, G, B) - min(R, G, B) over the pixels of a PNG: 0 for grey."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.int16)
    return float((pixels.max(axis=2) - pixels.min(axis=2)).mean())
