"""Regenerate the README screenshot and one 1400×1000 screenshot per tab from a running app:
``python scripts/screenshot.py --url http://127.0.0.1:7860``.

Opens the page in headless Chromium (Debian's ``/usr/bin/chromium``) and writes, under ``--folder``
(default ``docs/screenshots``): ``image.png`` (a default Run of 200 steps on the default face (training face 7019), with
its final stage), ``image_compare.png`` (the same run's panes at step 20, chosen with the step picker),
``image_landscape.png`` (the "Loss landscape" tab beside the chart, computed), ``pose.png`` and
``pose_views.png`` (its 3D views and meshes), ``hypotheses.png`` (Hypotheses, K = 8, 50 steps, on the default face
with the mouth hidden: the three galleries) and ``pose_hypotheses.png`` (Hypotheses on the pose tab with the left
arm only observed: K skeletons overlaid per space), ``projection.png``
(X and Z side by side) and ``defense.png`` (an attack, then the defense). ``--tabs ffhq --photo FILE``: the
FFHQ model (``ffhq64-w``) on an uploaded photo at 200 steps (``ffhq.png``), its results drawn at 1024²
(``ffhq_full.png``) and an edit put back into the photo (``ffhq_edit.png``). The README's ``docs/screenshot.png``
(``--readme``) is the image tab's whole page after a run with the mouth hidden. PNGs are stored with 256
colours to stay small.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image
from playwright.sync_api import expect, sync_playwright

LONG = 300_000  # ms: a run on a busy CPU


def save(page, path: Path, *, full_page: bool = False) -> None:
    """A screenshot, quantised to 256 colours (a third of the bytes, the text stays sharp)."""
    shot = Image.open(io.BytesIO(page.screenshot(full_page=full_page))).convert("RGB")
    shot.quantize(256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)  # keeps the curves' colours
    print(path, shot.size)


def image_tab(page, folder: Path, readme: Path) -> None:
    expect(page.locator("#notice")).to_contain_text("face_", timeout=60_000)
    page.locator("#run").click()
    expect(page.locator("#status")).to_contain_text("Done at step", timeout=LONG)  # "Refine past the generator" off
    expect(page.locator("#run")).to_be_enabled(timeout=60_000)
    page.wait_for_timeout(1500)
    page.evaluate("window.scrollTo(0, 0)")
    save(page, folder / "image.png")
    page.locator("#step-pick").get_by_text("step 20", exact=True).click()
    expect(page.locator("#x-caption")).to_contain_text("step 20 ·", timeout=10_000)
    page.locator("#step-pick").scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    save(page, folder / "image_compare.png")
    page.get_by_role("tab", name="Loss landscape").click()
    page.get_by_role("button", name="Compute landscape").click()
    page.wait_for_function("() => document.querySelector('#landscape-panel .main-svg') !== null", timeout=LONG)
    page.wait_for_timeout(1500)
    page.evaluate("document.querySelector('#chart-tabs').scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    save(page, folder / "image_landscape.png")
    page.get_by_role("tab", name="Loss vs step").click()
    page.set_viewport_size({"width": 1400, "height": 1300})
    page.locator("#preset").get_by_text("hide mouth").click()
    page.locator("#run").click()
    expect(page.locator("#status")).not_to_contain_text("Done at step", timeout=60_000)
    expect(page.locator("#status")).to_contain_text("Done at step", timeout=LONG)
    expect(page.locator("#run")).to_be_enabled(timeout=60_000)
    page.wait_for_timeout(1500)
    save(page, readme, full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def pose_tab(page, folder: Path) -> None:
    page.get_by_role("tab", name="3D pose").click()
    page.locator("#pose-run").click()
    expect(page.locator("#pose-status")).to_contain_text("Done.", timeout=LONG)
    page.wait_for_timeout(3000)
    page.evaluate("window.scrollTo(0, 0)")
    save(page, folder / "pose.png")
    page.evaluate("document.querySelector('#pose-chart').scrollIntoView({block: 'start'})")
    page.wait_for_timeout(1000)
    save(page, folder / "pose_views.png")


def hypotheses(page, folder: Path) -> None:
    """The Hypotheses button on both tabs: K = 8 results per space, with the mouth / most joints hidden."""
    page.get_by_role("tab", name="Image inversion").click()
    expect(page.locator("#notice")).to_contain_text("face_", timeout=60_000)
    page.locator("#preset").get_by_text("hide mouth").click()
    steps = page.locator("#steps input[type=number]")
    steps.fill("50")  # K = 8 per space at 50 steps: a few minutes on a busy CPU
    steps.press("Enter")
    page.get_by_role("button", name="Hypotheses", exact=True).click()
    expect(page.locator("#status")).to_contain_text("Done at step", timeout=LONG)
    page.wait_for_timeout(2000)
    page.evaluate("document.querySelector('#x-gallery').scrollIntoView({block: 'center'})")
    page.wait_for_timeout(1000)
    save(page, folder / "hypotheses.png")
    page.get_by_role("tab", name="3D pose").click()
    page.get_by_text("left arm only", exact=True).click()
    page.get_by_role("button", name="Hypotheses", exact=True).click()
    expect(page.locator("#pose-status")).not_to_contain_text("Done.", timeout=60_000)  # the Run's "Done." first goes
    expect(page.locator("#pose-status")).to_contain_text("Done.", timeout=LONG)
    expect(page.locator("#pose-x-view")).to_contain_text("hypotheses", timeout=60_000)
    page.wait_for_timeout(3000)
    page.evaluate("document.querySelector('#pose-x-view').scrollIntoView({block: 'center'})")
    page.wait_for_timeout(1000)
    save(page, folder / "pose_hypotheses.png")


def projection_tab(page, folder: Path) -> None:
    page.get_by_role("tab", name="Projection").click()
    budget = page.locator("#projection-budget input[type=number]")
    budget.fill("600")
    budget.press("Enter")
    page.locator("#projection-run").click()
    expect(page.locator("#projection-status")).to_contain_text("Z ends", timeout=LONG)
    page.wait_for_timeout(1500)
    page.evaluate("window.scrollTo(0, 0)")
    save(page, folder / "projection.png")


def defense_tab(page, folder: Path) -> None:
    page.get_by_role("tab", name="Adversarial defense").click()
    page.locator("#defense-attack").click()
    expect(page.locator("#defense-defend")).to_be_enabled(timeout=LONG)
    page.locator("#defense-defend").click()
    expect(page.locator("#defense-status")).to_contain_text("The attack", timeout=LONG)
    page.wait_for_timeout(1500)
    page.evaluate("window.scrollTo(0, 0)")
    save(page, folder / "defense.png")


def _choose(page, dropdown: str, option: str) -> None:
    page.locator(f"{dropdown} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def ffhq_tab(page, folder: Path, photo: Path, model: str = "ffhq64-w") -> None:
    """An in-the-wild photo on the FFHQ model: the run, the 1024² renders, a head-turn edit put back."""
    page.get_by_role("tab", name="Image inversion").click()
    expect(page.locator("#notice")).to_contain_text("face_", timeout=60_000)
    _choose(page, "#image-model", model)
    expect(page.locator("#notice")).to_contain_text(model, timeout=60_000)
    with page.expect_file_chooser() as chooser:
        page.locator("#upload").click()
    chooser.value.set_files(str(photo))
    expect(page.locator("#notice")).to_contain_text(photo.name, timeout=60_000)
    page.locator("#run").click()
    expect(page.locator("#status")).to_contain_text("drawn at 1024²", timeout=LONG)
    expect(page.locator("#run")).to_be_enabled(timeout=60_000)
    page.wait_for_timeout(2000)
    page.evaluate("window.scrollTo(0, 0)")
    save(page, folder / "ffhq.png")
    page.evaluate("document.querySelector('#full-view').scrollIntoView({block: 'start'})")
    page.wait_for_timeout(1500)
    save(page, folder / "ffhq_full.png")
    page.locator("#face-edit").get_by_text("Edit the face and put it back into my photo").click()
    page.locator("#face-edit-pc2 input[type=range]").fill("2")
    expect(page.locator("#face-edit-status")).to_contain_text("head turn", timeout=LONG)
    page.locator("#face-put-back-button").click()
    expect(page.locator("#face-edit-status")).to_contain_text("Put back into your photo", timeout=LONG)
    page.wait_for_timeout(1500)
    page.evaluate("document.querySelector('#face-edit').scrollIntoView({block: 'start'})")
    page.wait_for_timeout(1000)
    save(page, folder / "ffhq_edit.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:7860")
    parser.add_argument("--folder", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--readme", type=Path, default=Path("docs/screenshot.png"))
    parser.add_argument("--tabs", default="image,pose,hypotheses,projection,defense", help="comma-separated subset")
    parser.add_argument("--photo", type=Path, default=None, help="ffhq: the in-the-wild photo to upload")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    tabs = args.tabs.split(",")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(args.url)
        if "image" in tabs:
            image_tab(page, args.folder, args.readme)
        shots = (
            ("pose", pose_tab),
            ("hypotheses", hypotheses),
            ("projection", projection_tab),
            ("defense", defense_tab),
        )
        for name, shoot in shots:
            if name in tabs:
                shoot(page, args.folder)
        if "ffhq" in tabs:
            ffhq_tab(page, args.folder, args.photo)
        browser.close()


if __name__ == "__main__":
    main()
