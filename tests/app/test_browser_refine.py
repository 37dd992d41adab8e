"""The "Refine past the generator" option in headless Chromium: off by default (no Final pane, no Final curve); switched
on, the Final pane shows with its caption above it and its curve joins the chart from the step it branches off
Z→X. The page is started as in :mod:`tests.app.test_browser`."""

from __future__ import annotations

import re

from tests.app.test_browser import _open, _set_number, server  # noqa: F401  (the page, module-scoped)

LEGEND = "() => [...document.querySelectorAll('#chart .legendtext')].map(node => node.textContent)"
FINAL_NAME = "Final (refined past the generator)"


def test_refine_is_off_by_default_and_on_draws_its_curve(server):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser, page = _open(playwright, server)
        expect(page.locator("#notice")).to_contain_text(re.compile(r"face_\w+\.png"), timeout=30_000)
        refine = page.locator("#refine input[type=checkbox]")
        expect(refine).not_to_be_checked()
        _set_number(page, "#steps input[type=number]", "10")
        page.locator("#run").click()
        expect(page.locator("#status")).to_contain_text("Done at step 10/10", timeout=120_000)
        expect(page.locator("#run")).to_be_enabled(timeout=30_000)
        expect(page.locator("#final-image")).to_be_hidden()
        assert FINAL_NAME not in page.evaluate(LEGEND)

        refine.check()
        page.locator("#run").click()
        expect(page.locator("#status")).to_contain_text("Final (refined past the generator", timeout=120_000)
        expect(page.locator("#run")).to_be_enabled(timeout=30_000)
        expect(page.locator("#final-image")).to_be_visible()
        caption = page.locator("#final-caption").inner_text()
        assert caption.startswith("Final · refined past the generator: not the model's reconstruction"), caption
        assert "Z→X to step 5, then 5 steps" in caption, caption
        above = page.evaluate(
            "() => document.querySelector('#final-caption').getBoundingClientRect().bottom"
            " <= document.querySelector('#final-image').getBoundingClientRect().top + 1"
        )
        assert above, "the Final pane's caption is above its image"
        page.wait_for_function(f"() => ({LEGEND})().includes({FINAL_NAME!r})", timeout=10_000)
        browser.close()
