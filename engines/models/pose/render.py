"""Small PIL drawings of skeletons (front view), e.g. the committed grid of prior samples."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from torch import Tensor

from engines.models.pose.mesh import display_bones
from engines.models.pose.skeleton import Skeleton

LEFT_COLOUR = (220, 90, 40)
RIGHT_COLOUR = (40, 110, 210)
CENTRE_COLOUR = (60, 60, 60)


def _colour(name: str) -> tuple[int, int, int]:
    if name.startswith("l") and name not in ("lowerback", "lowerneck"):
        return LEFT_COLOUR
    if name.startswith("r") and name != "root":
        return RIGHT_COLOUR
    return CENTRE_COLOUR


def draw_skeleton(
    skeleton: Skeleton, positions: Tensor | np.ndarray, size: int = 160, *, yaw: float = 0.5
) -> Image.Image:
    """Draw one pose (``S x 3`` positions, y up) seen from a camera turned ``yaw`` radians."""
    points = np.asarray(positions, dtype=np.float64)
    cos, sin = np.cos(yaw), np.sin(yaw)
    screen_x = points[:, 0] * cos + points[:, 2] * sin
    screen_y = -points[:, 1]
    scale = size / 28.0
    centre = size / 2
    image = Image.new("RGB", (size, size), "white")
    pen = ImageDraw.Draw(image)
    for parent, child in display_bones(skeleton):
        start = (centre + scale * screen_x[parent], centre + scale * (screen_y[parent] - 3.75))
        end = (centre + scale * screen_x[child], centre + scale * (screen_y[child] - 3.75))
        pen.line([start, end], fill=_colour(skeleton.names[child]), width=max(2, size // 60))
    return image


def skeleton_grid(skeleton: Skeleton, positions: Tensor | np.ndarray, columns: int = 8, size: int = 160) -> Image.Image:
    """A grid of poses ``N x S x 3`` drawn side by side."""
    positions = np.asarray(positions)
    rows = -(-len(positions) // columns)
    grid = Image.new("RGB", (columns * size, rows * size), "white")
    for index, pose in enumerate(positions):
        grid.paste(draw_skeleton(skeleton, pose, size), ((index % columns) * size, (index // columns) * size))
    return grid
