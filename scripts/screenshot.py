"""Regenerate ``docs/screenshot.png`` and ``docs/tab_image.png`` from a running app:
``python scripts/screenshot.py --url http://127.0.0.1:7860``.

Opens the page in headless Chromium (Debian's ``/usr/bin/chromium``). First a default Run (200 steps) on the
default held-out face, waits for the final feature-map stage, and saves the 1400×1000 view as ``--tab-out``;
then hides the mouth, runs again, then 4 hypotheses, and saves the whole page as ``--out``.
"""

from __future__ import annotations

import argparse

from playwright.sync_api import expect, sync_playwright


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:7860")
    parser.add_argument("--out", default="docs/screenshot.png")
    parser.add_argument("--tab-out", default="docs/tab_image.png")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(args.url)
        expect(page.locator("#notice")).to_contain_text("face_", timeout=60_000)
        page.locator("#run").click()
        expect(page.locator("#final-caption")).to_contain_text("feature-map stage", timeout=300_000)
        expect(page.locator("#run")).to_be_enabled(timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=args.tab_out)
        page.set_viewport_size({"width": 1400, "height": 1300})
        page.get_by_label("hide mouth").check()
        page.locator("#run").click()
        expect(page.locator("#final-caption")).not_to_contain_text("feature-map stage", timeout=60_000)
        expect(page.locator("#final-caption")).to_contain_text("feature-map stage", timeout=300_000)
        expect(page.locator("#run")).to_be_enabled(timeout=60_000)
        hypotheses = page.get_by_label("Hypotheses K (random starts)", exact=False).first
        hypotheses.fill("4")
        hypotheses.press("Enter")
        page.locator("#hypotheses").click()
        page.wait_for_function(
            "() => document.querySelectorAll('#z-gallery img').length >= 4 && "
            "[...document.querySelectorAll('#z-gallery img')].every(img => img.complete && img.naturalWidth > 0)",
            timeout=300_000,
        )
        expect(page.locator("#run")).to_be_enabled(timeout=300_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=args.out, full_page=True)
        browser.close()


if __name__ == "__main__":
    main()
