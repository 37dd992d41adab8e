"""The FFHQ face model in headless Chromium: chosen in the Image tab it brings its own samples (FFHQ-aligned
training faces, generated faces, cats), streams X, Z and Z→X at 64², and then draws each result at 1024² with
the full network in the "Full resolution" gallery, whose pictures load. The page is started as in
:mod:`tests.app.test_browser`."""

from __future__ import annotations

import pytest

from engines.models.registry import available_models
from tests.app.test_browser import _choose, _open, _set_number, server  # noqa: F401  (the page, module-scoped)

FULL_VIEW = """() => [...document.querySelectorAll('#full-view img')]
  .map(image => ({complete: image.complete, width: image.naturalWidth}))"""


@pytest.mark.skipif("ffhq64" not in available_models("image"), reason="assets/ffhq_generator or ffhq64_fast missing")
def test_ffhq64_streams_and_draws_its_results_at_1024(server):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser, page = _open(playwright, server)
        expect(page.locator("#notice")).to_contain_text("face_", timeout=30_000)
        _choose(page, "#image-model", "ffhq64")
        expect(page.locator("#notice")).to_contain_text("ffhq64", timeout=30_000)  # the samples follow the model
        _choose(page, "#sample", "Generated face, seed 1 (the generator's own)")
        expect(page.locator("#notice")).to_contain_text("generated_seed0001.png", timeout=30_000)
        expect(page.locator("#full-view")).to_be_hidden()
        _set_number(page, "#steps input[type=number]", "5")
        page.locator("#run").click()
        expect(page.locator("#status")).to_contain_text("drawn at 1024²", timeout=120_000)
        expect(page.locator("#run")).to_be_enabled(timeout=30_000)
        expect(page.locator("#full-view")).to_be_visible()
        page.wait_for_function(f"() => ({FULL_VIEW})().length === 3 && ({FULL_VIEW})().every(i => i.complete && i.width > 0)", timeout=30_000)  # fmt: skip
        assert all(image["width"] >= 512 for image in page.evaluate(FULL_VIEW))  # thumbnails of the 1024² files
        names = page.locator("#download").inner_text()
        assert all(f"run_{pane}_1024" in names for pane in ("x", "z", "zx")), names  # the name and its suffix wrap
        _choose(page, "#sample", "Face 7019 (in-distribution, training)")  # a new target clears the renders
        expect(page.locator("#full-view")).to_be_hidden(timeout=30_000)
        browser.close()
