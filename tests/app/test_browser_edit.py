"""In headless Chromium: after a run on the default face, a direction slider of the edit panel changes the face."""

from __future__ import annotations

import os
from pathlib import Path

from tests.app.test_browser import CHROMIUM, FLAGS, server  # noqa: F401  (the page's server fixture)


def _edited_source(page) -> str:
    return page.locator("#face-edited img").get_attribute("src") or ""


def _set_slider(page, elem_id: str, value: float) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def test_a_direction_slider_changes_the_face(server):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).is_file(), "install Debian's chromium (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1250})
        page.goto(server)
        expect(page.locator("#notice")).to_contain_text("face", timeout=30_000)
        page.locator("#run").click()
        expect(page.locator("#status")).to_contain_text("Done at step", timeout=180_000)
        page.locator("#face-edit").get_by_text("Edit the face and put it back").click()
        _set_slider(page, "face-edit-pc1", 3)
        expect(page.locator("#face-edit-status")).to_contain_text("PC1 +3.0", timeout=20_000)
        first = _edited_source(page)
        _set_slider(page, "face-edit-pc1", -3)
        expect(page.locator("#face-edit-status")).to_contain_text("PC1 -3.0", timeout=20_000)
        page.wait_for_function(
            "(before) => (document.querySelector('#face-edited img') || {}).src !== before", arg=first, timeout=20_000
        )
        assert first and _edited_source(page) != first  # a new picture: the face changed
        if os.environ.get("EDIT_SCREENSHOT"):  # e.g. docs/screenshots/face_edit.png
            page.locator("#face-edit").screenshot(path=os.environ["EDIT_SCREENSHOT"])
        browser.close()
