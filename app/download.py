"""The whole run as files: a PNG strip (the target, then X, Z and Z→X rows at chosen steps), the loss
curves as CSV and the run's settings as JSON."""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

STRIP_STEPS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)  # plus the last step of the run
ROWS = ("X", "Z", "Z→X")
TILE = 128  # tiles are enlarged to this size (nearest neighbour: pixels stay visible)
LABEL_HEIGHT = 18
LABEL_WIDTH = 44
COLUMNS = ("step", "x_loss", "z_loss", "zx_loss")
FINAL_COLUMN = "final_loss"  # only when the run refined past the generator
RUNS_ROOT = Path(tempfile.gettempdir()) / "landscape-runs"  # every run's download folder lives under this one
KEEP_RUNS = 32  # newest run folders kept; Gradio copies returned files into its own cache at once
MAX_RUN_AGE_SECONDS = 3600.0  # older run folders are removed whatever their number


def _font(size: int = 13) -> tuple[ImageFont.ImageFont, bool]:
    """A font with "→" when the system has DejaVu Sans (else Pillow's default, which lacks it), and whether it has it."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size), True
    except OSError:
        return ImageFont.load_default(size=size), False


@dataclass
class RunRecord:
    """What a download needs from a streamed run: the loss of every step and the images at :data:`STRIP_STEPS`.

    losses: per step, one loss per row of :data:`ROWS`; images likewise. target: the target as the optimiser
    saw it (its own column); settings: written beside the curves."""

    losses: dict[int, tuple[float, ...]] = field(default_factory=dict)
    images: dict[int, tuple[Image.Image, ...]] = field(default_factory=dict)
    last: tuple[int, tuple[Image.Image, ...]] | None = None
    target: Image.Image | None = None
    settings: dict = field(default_factory=dict)
    final: dict[int, float] = field(default_factory=dict)  # the last stage's loss by step ("Refine past the generator")
    full: dict[str, Image.Image] = field(default_factory=dict)  # file stem -> a final pane drawn at full resolution

    def add(self, step: int, losses: tuple[float, ...], images: tuple[Image.Image, ...]) -> None:
        if step == 0:  # a fresh start (also after an out-of-memory retry)
            self.losses.clear()
            self.images.clear()
            self.final.clear()
        self.losses[step] = tuple(losses)
        if step in STRIP_STEPS:
            self.images[step] = tuple(images)
        self.last = (step, tuple(images))

    def strip(self) -> Image.Image:
        """Row labels (X, Z, Z→X) on the left, the target column, then one column per kept step (the last
        step included), each headed by its step; tiles :data:`TILE` pixels wide."""
        columns = dict(self.images)
        if self.last is not None:
            columns[self.last[0]] = self.last[1]
        steps = sorted(columns)
        rows = len(columns[steps[0]])
        font, has_arrow = _font()
        first = LABEL_WIDTH + (TILE if self.target is not None else 0)
        strip = Image.new("RGB", (first + TILE * len(steps), LABEL_HEIGHT + rows * TILE), "white")
        draw = ImageDraw.Draw(strip)
        for row, name in enumerate(ROWS[:rows]):
            label = name if has_arrow else name.replace("→", "->")
            draw.text((4, LABEL_HEIGHT + row * TILE + TILE // 2 - 8), label, fill="black", font=font)
        if self.target is not None:
            draw.text((LABEL_WIDTH + 2, 2), "target", fill="black", font=font)
            strip.paste(_tile(self.target), (LABEL_WIDTH, LABEL_HEIGHT))
        for column, step in enumerate(steps):
            left = first + column * TILE
            draw.text((left + 2, 2), f"step {step}", fill="black", font=font)
            for row, image in enumerate(columns[step]):
                strip.paste(_tile(image), (left, LABEL_HEIGHT + row * TILE))
        return strip

    def write(self, folder: Path | None = None) -> list[str]:
        """``run_strip.png``, ``run_losses.csv``, ``run_settings.json`` (and the full-resolution finals,
        ``run_x_1024.png``...) in a new folder; their paths."""
        if not self.losses:
            return []
        folder = Path(folder or new_run_folder())
        folder.mkdir(parents=True, exist_ok=True)
        self.strip().save(folder / "run_strip.png")
        width = len(next(iter(self.losses.values())))
        with open(folder / "run_losses.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            final = [FINAL_COLUMN] if self.final else []  # empty before the step the last stage starts from
            writer.writerow([*COLUMNS[: width + 1], *final])
            writer.writerows([step, *self.losses[step], *([self.final.get(step, "")] if final else [])] for step in sorted(self.losses))  # fmt: skip
        (folder / "run_settings.json").write_text(json.dumps(self.settings, indent=2, sort_keys=True))
        names = ["run_strip.png", "run_losses.csv", "run_settings.json"]
        for stem, image in self.full.items():  # the final panes at full resolution (FFHQ models: 1024²)
            image.save(folder / f"{stem}.png")
            names.append(f"{stem}.png")
        return [str(folder / name) for name in names]


def _tile(image: Image.Image) -> Image.Image:
    return image.convert("RGB").resize((TILE, TILE), Image.Resampling.NEAREST)


def new_run_folder(root: Path | None = None, keep: int = KEEP_RUNS, max_age: float = MAX_RUN_AGE_SECONDS) -> Path:
    """A fresh ``landscape-run-*`` folder under ``root`` (default :data:`RUNS_ROOT`), after removing all but the
    ``keep - 1`` newest older ones and any older than ``max_age`` seconds: the downloads never pile up."""
    root = Path(root or RUNS_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    prune_runs(root, keep - 1, max_age)
    return Path(tempfile.mkdtemp(prefix="landscape-run-", dir=root))


def prune_runs(root: Path, keep: int, max_age: float) -> int:
    """Remove the ``landscape-run-*`` folders of ``root`` beyond the ``keep`` newest or older than ``max_age``;
    how many were removed. Safe against another thread removing the same folder."""
    folders = []
    for folder in root.glob("landscape-run-*"):
        try:
            folders.append((folder.stat().st_mtime, folder))
        except FileNotFoundError:
            continue
    folders.sort(reverse=True)
    now, removed = time.time(), 0
    for rank, (modified, folder) in enumerate(folders):
        if rank >= keep or now - modified > max_age:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
