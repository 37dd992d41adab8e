"""Plotly 3D skeleton views for the "3D pose" tab (engines stay free of plotly)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont

from app.figures import light_template
from engines.models.pose.mesh import display_bones
from engines.models.pose.skeleton import Skeleton

TARGET_COLOUR = "#2ca02c"


def _bone_lines(skeleton: Skeleton, points: np.ndarray) -> tuple[list, list, list]:
    """Bone segments as x/z/y lists separated by None (plotly's z axis shows the body's y, up)."""
    xs, ys, zs = [], [], []
    for parent, child in display_bones(skeleton):
        for slot in (parent, child):
            xs.append(points[slot, 0])
            ys.append(points[slot, 2])
            zs.append(points[slot, 1])
        xs.append(None), ys.append(None), zs.append(None)
    return xs, ys, zs


def skeleton_figure(
    skeleton: Skeleton, poses: np.ndarray, target: np.ndarray, observed_slots: list[int], *, colour: str, title: str
) -> go.Figure:
    """K poses (``K x S x 3`` positions) as 3D stick figures, with the target's observed joints overlaid."""
    seen = target[observed_slots]
    target_line = {"color": TARGET_COLOUR, "width": 3}  # solid and opaque: WebGL drew the dotted, faded line as nothing
    traces = [
        {"type": "scatter3d", **_xyz(_bone_lines(skeleton, target)), "mode": "lines", "name": "target", "line": target_line},
        {"type": "scatter3d", "x": seen[:, 0], "y": seen[:, 2], "z": seen[:, 1], "mode": "markers",
         "name": "observed joints", "marker": {"color": TARGET_COLOUR, "size": 5}},
    ]  # fmt: skip
    opacity = 1.0 if len(poses) == 1 else 0.6
    for index, points in enumerate(poses):
        traces.append(
            {"type": "scatter3d", **_xyz(_bone_lines(skeleton, points)), "mode": "lines", "showlegend": index == 0,
             "name": "estimate", "line": {"color": colour, "width": 5}, "opacity": opacity}
        )  # fmt: skip
    axis = {"range": [-18, 18], "showticklabels": False, "title": {"text": ""}}
    layout = {
        "title": {"text": title, "x": 0.02}, "height": 420, "margin": {"l": 0, "r": 0, "t": 40, "b": 0},
        "template": light_template(("scatter3d",), scene=True),
        "scene": {"xaxis": axis, "yaxis": axis, "zaxis": axis, "aspectmode": "cube",
                  "camera": {"eye": {"x": 0.3, "y": 1.6, "z": 0.3}}},
        "legend": {"orientation": "h", "y": 0.02},
    }  # fmt: skip
    return go.Figure(data=traces, layout=layout)  # one call with plain dicts: see app.figures.light_template


def _font(size: int) -> ImageFont.ImageFont:
    """DejaVu Sans when the system has it (it draws "→" and "Θ"), else Pillow's default."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def _xyz(lines: tuple[list, list, list]) -> dict:
    return {"x": lines[0], "y": lines[1], "z": lines[2]}


def skeleton_png(
    skeleton: Skeleton, panes: list[tuple[str, np.ndarray, str]], target: np.ndarray, *, size: int = 260
) -> Image.Image:
    """A light still of the stick figures, for streaming (a 3D plotly figure per step stalls the browser).

    panes: (title, ``K x S x 3`` positions, colour) per pane, side by side; target ``S x 3`` is drawn
    dotted in each. Seen from the front, turned 30° about the vertical axis.
    """
    image = Image.new("RGB", (size * len(panes), size), "white")
    draw = ImageDraw.Draw(image)
    turn = np.radians(30.0)
    scale = size / 40.0  # the 3D views' ±18 range, with a margin

    def project(points: np.ndarray, offset: int) -> list[tuple[float, float]]:
        across = points[:, 0] * np.cos(turn) + points[:, 2] * np.sin(turn)
        return [(offset + size / 2 + a * scale, size / 2 - 2 * scale - y * scale) for a, y in zip(across, points[:, 1])]

    bones = display_bones(skeleton)
    for index, (title, poses, colour) in enumerate(panes):
        offset = index * size
        guide = project(target, offset)
        for parent, child in bones:
            draw.line([guide[parent], guide[child]], fill=TARGET_COLOUR, width=1)
        for pose in poses:
            flat = project(pose, offset)
            for parent, child in bones:
                draw.line([flat[parent], flat[child]], fill=colour, width=3 if len(poses) == 1 else 2)
        draw.text((offset + 8, size - 22), title, fill=colour, font=_font(15))
    return image
