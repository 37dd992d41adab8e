"""The image tab as a visitor meets it (issue 27): a new target mid-run ends the old stream at once, and a
tight-cropped face photo shows its unknown pixels as hidden, not as smeared streaks."""

from __future__ import annotations

import re

from tests.app.test_browser import (  # noqa: F401
    CHART_POINTS,
    STEP_AT_LEAST,
    _open,
    server,
)
from tests.app.test_browser_page import _wait_for_magenta

# From the moment the status says "new target", record every pane caption that shows a step of a run.
WATCH_OLD_FRAMES = """() => {
  window.__old_frames = [];
  const status = document.getElementById('status');
  for (const id of ['x-caption', 'z-caption', 'zx-caption']) {
    const node = document.getElementById(id);
    new MutationObserver(() => {
      if (/new target/.test(status.innerText) && /step \\d+/.test(node.innerText))
        window.__old_frames.push(node.innerText);
    }).observe(node, {subtree: true, childList: true, characterData: true});
  }
}"""


def test_a_new_target_mid_run_ends_the_old_stream_at_once(server):  # noqa: F811
    """Run the default face, click the cat example at step ≥ 10: the panes, curves and sentence clear at once and
    no frame of the old run arrives after; the controls are usable, a preset is drawn on the cat, a Run works."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser, page = _open(playwright, server)
        expect(page.locator("#notice")).to_contain_text(re.compile(r"face_\w+\.png"), timeout=30_000)
        page.locator("#run").click()
        page.wait_for_function(STEP_AT_LEAST, arg=10, timeout=30_000)
        page.evaluate(WATCH_OLD_FRAMES)
        page.locator("#examples img").nth(4).click()  # the cat
        expect(page.locator("#notice")).to_contain_text("cat_flickr_cat_000010", timeout=15_000)
        expect(page.locator("#status")).to_contain_text("new target", timeout=15_000)
        page.wait_for_timeout(3000)  # the old run made about 30 steps a second: it would have streamed on
        assert page.evaluate("() => window.__old_frames") == []
        expect(page.locator("#status")).to_contain_text("new target")
        for pane in ("x", "z", "zx"):
            expect(page.locator(f"#{pane}-caption")).to_contain_text("step –")
            expect(page.locator(f"#{pane}-image img")).to_have_count(0)
        page.wait_for_function(f"() => ({CHART_POINTS})().every(points => points === 0)", timeout=10_000)
        expect(page.locator("#run")).to_be_enabled()
        expect(page.locator("#stop")).to_be_disabled()
        page.locator("#preset").get_by_text("hide mouth").click()  # a preset is drawn on the new target
        assert _wait_for_magenta(page, 0.02) >= 0.02
        page.locator("#steps input[type=number]").fill("3")
        page.locator("#steps input[type=number]").press("Enter")
        page.locator("#run").click()
        expect(page.locator("#status")).to_contain_text("Done at step 3/3", timeout=60_000)
        browser.close()


def _seen_pixels(page):
    """The "what the optimiser sees" picture, as the page shows it (fetched from its src)."""
    import io

    import numpy as np
    from PIL import Image

    source = page.locator("#seen img").get_attribute("src")
    return np.asarray(Image.open(io.BytesIO(page.request.get(source).body())).convert("RGB"), np.int16)


def test_a_tight_cropped_face_shows_unknown_pixels_not_streaks(server, tmp_path):  # noqa: F811
    """A face photo cropped close is aligned; what the crop takes from outside the photo is hidden (the
    checkerboard in "what the optimiser sees"), the notice says how many, and a Run ends on that target."""
    from PIL import Image
    from playwright.sync_api import expect, sync_playwright

    from tests.app.test_browser import _upload
    from tests.conftest import REPO_ROOT

    face = Image.open(REPO_ROOT / "app" / "samples" / "face_008311.png").convert("RGB")
    upload = tmp_path / "tight.png"
    face.crop((12, 14, 52, 58)).resize((160, 176), Image.Resampling.BICUBIC).save(upload)
    with sync_playwright() as playwright:
        browser, page = _open(playwright, server)
        expect(page.locator("#notice")).to_contain_text(re.compile(r"face_\w+\.png"), timeout=30_000)
        _upload(page, upload)
        expect(page.locator("#notice")).to_contain_text("lie outside the photo", timeout=30_000)
        count = int(re.search(r"([\d,]+) of 4,096 pixels", page.locator("#notice").inner_text()).group(1).replace(",", ""))  # fmt: skip
        page.wait_for_function("() => document.querySelector('#seen img')?.naturalWidth > 0", timeout=10_000)
        seen = _seen_pixels(page)
        top_row = seen[0].reshape(-1)
        assert set(top_row.tolist()) <= {115, 153}  # the checkerboard's greys, not a streak of the photo
        checkered = ((seen == 115) | (seen == 153)).all(axis=-1)
        assert checkered.sum() >= count * seen.shape[0] * seen.shape[1] / 4096 * 0.9
        assert _wait_for_magenta(page, 0.1) >= 0.1  # painted over in the editor, as a visitor's strokes are
        page.locator("#steps input[type=number]").fill("3")
        page.locator("#steps input[type=number]").press("Enter")
        page.locator("#run").click()
        expect(page.locator("#status")).to_contain_text("Done at step 3/3", timeout=60_000)
        browser.close()
