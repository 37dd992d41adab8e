"""The whole run as files: a PNG strip of X (top row) and Z (bottom row) at chosen steps, and the loss curves as CSV."""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

STRIP_STEPS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)  # plus the last step of the run
LABEL_HEIGHT = 14


@dataclass
class RunRecord:
    """What a download needs from a streamed run: the loss of every step, the two images at :data:`STRIP_STEPS`."""

    losses: dict[int, tuple[float, float]] = field(default_factory=dict)
    images: dict[int, tuple[Image.Image, Image.Image]] = field(default_factory=dict)
    last: tuple[int, Image.Image, Image.Image] | None = None

    def add(self, step: int, x_loss: float, z_loss: float, x_image: Image.Image, z_image: Image.Image) -> None:
        if step == 0:  # a fresh start (also after an out-of-memory retry)
            self.losses.clear()
            self.images.clear()
        self.losses[step] = (x_loss, z_loss)
        if step in STRIP_STEPS:
            self.images[step] = (x_image, z_image)
        self.last = (step, x_image, z_image)

    def strip(self) -> Image.Image:
        """X row above Z row, one column per kept step (the last step included), labelled with the step."""
        columns = dict(self.images)
        if self.last is not None:
            columns[self.last[0]] = self.last[1:]
        steps = sorted(columns)
        size = columns[steps[0]][0].width
        strip = Image.new("RGB", (size * len(steps), LABEL_HEIGHT + 2 * size), "white")
        draw = ImageDraw.Draw(strip)
        for column, step in enumerate(steps):
            draw.text((column * size + 2, 1), f"step {step}", fill="black")
            for row, image in enumerate(columns[step]):
                strip.paste(image.convert("RGB").resize((size, size)), (column * size, LABEL_HEIGHT + row * size))
        return strip

    def write(self, folder: Path | None = None) -> list[str]:
        """``run_strip.png`` and ``run_losses.csv`` in a new folder; their paths."""
        if not self.losses:
            return []
        folder = Path(folder or tempfile.mkdtemp(prefix="landscape-run-"))
        folder.mkdir(parents=True, exist_ok=True)
        self.strip().save(folder / "run_strip.png")
        with open(folder / "run_losses.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["step", "x_loss", "z_loss"])
            writer.writerows([step, *self.losses[step]] for step in sorted(self.losses))
        return [str(folder / "run_strip.png"), str(folder / "run_losses.csv")]
