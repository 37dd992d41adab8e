"""The Projection tab in headless Chromium with the embedded ``digits`` model: load a misaligned sample
(its class preselected), project in X and Z side by side with the transform search (the found frame boxed,
its numbers, the class path), fine-tune, then start a long run and stop it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.app.test_browser import CHROMIUM, FLAGS, server  # noqa: F401  (the app fixture)

SAMPLE = "digit_7_mnist_test_06989"  # shown as "Digit 7 (MNIST test #6989)"


def _set_number(page, elem_id: str, value: int) -> None:
    field = page.locator(f"#{elem_id} input[type=number]")
    field.fill(str(value))
    field.press("Enter")


def test_project_fine_tune_and_stop_in_chromium(server, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    from engines.models.registry import available_models

    assert "digits" in available_models("image", conditional=True), "the digits assets are missing from assets/"
    assert Path(CHROMIUM).is_file(), "install Debian's chromium (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.goto(server)
        page.get_by_role("tab", name="Projection").click()
        page.locator("#projection-sample input").click()
        page.get_by_role("option", name="Digit 7 (MNIST test #6989)").click()
        expect(page.locator("#projection-notice")).to_contain_text(SAMPLE, timeout=30_000)
        expect(page.locator("#projection-class")).to_contain_text("classifier reads 7", timeout=30_000)
        page.locator("#projection-transform input").check()
        _set_number(page, "projection-budget", 600)
        _set_number(page, "projection-population", 6)
        page.locator("#projection-run").click()
        expect(page.locator("#projection-status")).to_contain_text("Done", timeout=120_000)
        expect(page.locator("#projection-pasted img")).to_be_visible()
        expect(page.locator("#projection-pasted-z img")).to_be_visible()  # X and Z side by side, one Run
        expect(page.locator("#projection-boxed img")).to_be_visible()  # the found frame drawn on the target
        expect(page.locator("#projection-details")).to_contain_text("Transform found")
        expect(page.locator("#projection-details-z")).to_contain_text("Class search")
        expect(page.locator("#projection-status")).to_contain_text("Z ends")
        expect(page.locator("#projection-gallery img").first).to_be_visible()
        expect(page.locator("#projection-run")).to_be_enabled()
        _set_number(page, "projection-fine-tune-steps", 20)
        page.locator("#projection-fine-tune").click()
        expect(page.locator("#projection-status")).to_contain_text("Fine-tuned the ", timeout=120_000)
        page.screenshot(path=os.environ.get("PROJECTION_SCREENSHOT", str(tmp_path / "projection.png")), full_page=True)
        _set_number(page, "projection-budget", 20000)
        page.locator("#projection-run").click()
        expect(page.locator("#projection-status")).to_contain_text(
            re.compile(r"\d+/20000 forward passes"), timeout=60_000
        )
        page.locator("#projection-stop").click()
        expect(page.locator("#projection-status")).to_contain_text("Stopped at", timeout=30_000)
        expect(page.locator("#projection-run")).to_be_enabled(timeout=10_000)
        expect(page.locator("#projection-stop")).to_be_disabled()
        browser.close()
