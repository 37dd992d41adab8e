"""The "Learn Θ" tab in headless Chromium: Start learning digits' Θ (30 s budget), watch the curves, the two
landscapes and the reconstructions appear round by round, then Stop ends it within a round.

Set ``LEARN_SCREENSHOT=path.png`` to keep the screenshot (``docs/screenshots/learn.png`` is made that way).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from engines.models.registry import available_models

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
ROUNDS_AT_LEAST = (
    """(minimum) => Number(document.querySelector('#learn-progress-bar')?.dataset.rounds || 0) >= minimum"""
)
TRACES = """(id) => document.querySelectorAll(`#${id} .scatterlayer .trace`).length"""
CONTOURS = """() => document.querySelectorAll('#learn-landscapes .contourlayer > g').length"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    if "digits" not in available_models("image"):
        pytest.fail("digits weights are missing from assets/: the learn tab's browser test needs them")
    from app.ui import CSS, build_app, theme

    demo = build_app().queue(default_concurrency_limit=4)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False, css=CSS,
                theme=theme(), quiet=True)  # fmt: skip
    yield f"http://127.0.0.1:{port}"
    demo.close()


def test_learn_tab_streams_rounds_and_stops(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).is_file(), "install Debian's chromium (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.goto(server)
        page.get_by_role("tab", name="Learn Θ").click()
        expect(page.locator("#learn-start-button")).to_be_visible(timeout=10_000)
        page.locator("#learn-start-button").click()
        expect(page.locator("#learn-stop")).to_be_enabled(timeout=10_000)
        # round 0 (before learning): both landscapes, the probe curves and four targets' reconstructions
        page.wait_for_function(f"() => ({CONTOURS})() >= 2", timeout=120_000)  # round 0: the same surface twice
        page.wait_for_function(ROUNDS_AT_LEAST, arg=2, timeout=180_000)
        assert page.evaluate(TRACES, "learn-trajectory") >= 1
        assert page.evaluate(TRACES, "learn-probe") == 3  # Z@20, X@20 per round; X@200 (no Θ); Z→X@200: final Θ
        assert page.locator("#learn-reconstructions img").count() >= 12  # 4 targets x (target, Z@2, Z@20)
        expect(page.locator("#learn-status")).to_contain_text("Round 2")
        page.locator("#learn-stop").click()
        expect(page.locator("#learn-status")).to_contain_text("Stopped after", timeout=60_000)
        expect(page.locator("#learn-start-button")).to_be_enabled(timeout=10_000)
        expect(page.locator("#learn-use")).to_be_enabled(timeout=10_000)
        expect(page.locator("#learn-download")).to_contain_text("safetensors", timeout=10_000)
        assert page.evaluate(TRACES, "learn-probe") == 4  # now Z→X@200 and X@200 too
        assert page.evaluate(CONTOURS) >= 2
        page.locator("#learn-use").click()
        expect(page.locator("#learn-status")).to_contain_text("other visitors keep the shipped Θ", timeout=10_000)
        page.screenshot(path=os.environ.get("LEARN_SCREENSHOT", str(tmp_path / "learn.png")), full_page=True)
        browser.close()
