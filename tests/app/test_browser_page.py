"""The image tab's newer parts in headless Chromium: an example with its mask drawn on the target, the panes at
any kept step after a run, the landscape beside the chart, "(your upload)" in the sample list, and the queue
place a visitor sees while every worker is busy."""

from __future__ import annotations

import re

from tests.app.test_browser import _browser, _choose, _open, _set_number, _upload, server  # noqa: F401


def _magenta(page) -> float:
    """The share of magenta pixels the target editor shows (a preset drawn on the target), from a screenshot:
    the editor draws with WebGL, whose pixels a page script cannot read back."""
    import io

    import numpy as np
    from PIL import Image

    shot = np.asarray(Image.open(io.BytesIO(page.locator("#editor").screenshot())).convert("RGB")).astype(int)
    magenta = (shot[..., 0] > 200) & (shot[..., 1] < 90) & (shot[..., 2] > 200)
    return float(magenta.mean())


def _wait_for_magenta(page, least: float, timeout: float = 15.0) -> float:
    import time

    deadline, share = time.monotonic() + timeout, 0.0
    while time.monotonic() < deadline and (share := _magenta(page)) < least:
        time.sleep(0.5)
    return share


def test_example_mask_compare_steps_landscape_and_upload(server, tmp_path):  # noqa: F811
    from PIL import Image
    from playwright.sync_api import expect, sync_playwright

    upload = tmp_path / "square.png"
    Image.new("RGB", (80, 80), (30, 120, 200)).save(upload)
    with sync_playwright() as playwright:
        browser, page = _open(playwright, server)
        expect(page.locator("#notice")).to_contain_text(re.compile(r"face_\w+\.png"), timeout=30_000)
        page.locator("#examples img").nth(1).click()  # face 8042 with "hide mouth"
        expect(page.locator("#notice")).to_contain_text("face_008042", timeout=30_000)
        expect(page.locator("#preset input[value='hide mouth']")).to_be_checked()
        mouth = _wait_for_magenta(page, 0.02)
        assert 0.02 <= mouth < 0.15, mouth  # the mouth box, drawn on the target
        page.locator("#preset").get_by_text("left half").click()  # another preset replaces it on the target
        half = _wait_for_magenta(page, 0.2)
        assert 0.2 <= half, half
        page.locator("#preset").get_by_text("none").click()  # and "none" wipes the drawn preset off the target
        page.wait_for_timeout(3000)
        assert _magenta(page) < 0.005, _magenta(page)
        _set_number(page, "#steps input[type=number]", "25")
        page.locator("#run").click()
        expect(page.locator("#status")).to_contain_text("Done at step 25/25", timeout=90_000)
        expect(page.locator("#step-pick")).to_be_visible(timeout=30_000)
        page.locator("#step-pick").get_by_text("step 2", exact=True).click()
        expect(page.locator("#x-caption")).to_contain_text("step 2 ·", timeout=10_000)
        expect(page.locator("#zx-caption")).to_contain_text("Z until step")
        page.locator("#step-pick").get_by_text("step 20", exact=True).click()
        expect(page.locator("#z-caption")).to_contain_text("step 20 ·", timeout=10_000)
        page.get_by_role("tab", name="Loss landscape").click()
        expect(page.get_by_role("button", name="Compute landscape")).to_be_visible()
        page.get_by_role("tab", name="Loss vs step").click()
        _upload(page, upload)
        expect(page.locator("#status")).to_contain_text("new target", timeout=15_000)
        expect(page.locator("#sample input")).to_have_value("(your upload)")
        expect(page.locator("#step-pick")).to_be_hidden()
        browser.close()


def test_a_visitor_beyond_the_concurrency_sees_the_queue(server):  # noqa: F811
    """The server runs 4 at once: a fifth visitor's Run shows its place in the queue, then runs once one is free."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = _browser(playwright)
        pages = [browser.new_page(viewport={"width": 1400, "height": 1000}) for _ in range(5)]
        for page in pages:
            page.goto(server)
            expect(page.locator("#notice")).to_contain_text(re.compile(r"face_\w+\.png"), timeout=60_000)
            _set_number(page, "#steps input[type=number]", "2000")
        for page in pages[:4]:
            page.locator("#run").click()
            expect(page.locator("#stop")).to_be_enabled(timeout=30_000)
        pages[4].locator("#run").click()
        expect(pages[4].locator("#image-progress")).to_contain_text(re.compile(r"queue: \d+/\d+"), timeout=15_000)
        expect(pages[0].locator("#image-progress")).to_contain_text(re.compile(r"\d+/2k steps"), timeout=15_000)
        pages[0].locator("#stop").click()
        expect(pages[4].locator("#stop")).to_be_enabled(timeout=30_000)  # its turn came
        for page in pages[1:]:
            page.locator("#stop").click()
        for page in pages:
            expect(page.locator("#run")).to_be_enabled(timeout=30_000)
        browser.close()
