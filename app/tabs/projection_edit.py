"""The Projection tab's Edit row (not a tab of its own): after a run (and after Fine-tune), a target class, its
strength, shift and zoom; the edited object and the edit put back into the original frame follow the sliders
(one forward pass of G each, no optimisation). The computing is in :mod:`app.edits`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.edits import TUNED, EditSettings, edit_images
from app.media import as_files
from app.projection_runs import Projected, image_size, object_mask
from app.session import session_id
from app.targets import build_target

logger = logging.getLogger(__name__)

KEEP = "keep"  # the class choice that keeps the projection's class
DIGIT_DIRECTIONS = ("shift_x", "shift_y", "zoom")


@dataclass(eq=False)
class EditRow:
    """The Edit row's components; :meth:`edit` is the handler every control's change calls."""

    target_class: gr.Dropdown
    strength: gr.Slider
    shift_x: gr.Slider
    shift_y: gr.Slider
    zoom: gr.Slider
    edited: gr.Image
    put_back: gr.Image
    status: gr.Markdown

    @property
    def controls(self) -> list:
        return [self.target_class, self.strength, self.shift_x, self.shift_y, self.zoom]

    def edit(self, editor, state, target_class, strength, shift_x, shift_y, zoom, request: gr.Request = None) -> dict:
        """Render the edit of the last projection (the better space's; its fine-tuned copy when there is one)."""
        if not state:
            return {self.status: "Run a projection first: the edit starts from its result."}
        try:
            space = state.get("tuned", "x")
            projected = Projected(**state["spaces"][space])
            target = build_target(editor, "none", image_size(projected.model))
            moves = zip(DIGIT_DIRECTIONS, (shift_x, shift_y, zoom))
            settings = EditSettings(
                target_class=None if target_class in (None, "", KEEP) else int(target_class),
                strength=float(strength),
                amounts=tuple((name, float(value)) for name, value in moves if value),
            )
            tuned = TUNED.get(session_id(request), projected)
            painted = object_mask(target.weight)  # the painted box only: a digit's edit may leave its old box
            edited, put_back = edit_images(target.image, painted, projected, settings, tuned)
        except (ValueError, FileNotFoundError) as error:
            return {self.status: f"⚠ {error}"}
        except Exception as error:  # shown and logged, so the page stays usable
            logger.exception("edit failed")
            return {self.status: f"⚠ internal error: {error!r}"}
        which = "the fine-tuned copy of G" if tuned is not None else "G"
        status = f"Edit of the {space.upper()} projection, rendered by {which} (one forward pass)"
        return as_files({self.edited: edited, self.put_back: put_back, self.status: status})

    def cleared(self) -> dict:
        return {self.edited: None, self.put_back: None}


def build_edit_row(classes: list[str]) -> EditRow:
    """The row's layout (call inside the tab's results column)."""
    image = dict(interactive=False, height=150, format="png", buttons=["fullscreen", "download"], min_width=100)
    gr.Markdown("#### Edit what was projected, and put it back")
    with gr.Row():
        target_class = gr.Dropdown(
            [KEEP, *classes], value=KEEP, label="Target class", elem_id="projection-edit-class", min_width=100
        )
        strength = gr.Slider(0, 1, value=1, step=0.05, label="Class strength", elem_id="projection-edit-strength")
        shift_x = gr.Slider(-1, 1, value=0, step=0.05, label="Shift ← →", elem_id="projection-edit-shift-x")
        shift_y = gr.Slider(-1, 1, value=0, step=0.05, label="Shift ↑ ↓", elem_id="projection-edit-shift-y")
        zoom = gr.Slider(-1, 1, value=0, step=0.05, label="Zoom", elem_id="projection-edit-zoom")
    with gr.Row(equal_height=True):
        edited = gr.Image(label="Edited object", elem_id="projection-edited", **image)
        put_back = gr.Image(label="Put back into the target", elem_id="projection-put-back", **image)
    status = gr.Markdown("", elem_id="projection-edit-status")
    return EditRow(target_class, strength, shift_x, shift_y, zoom, edited, put_back, status)


def wire_edit_row(row: EditRow, editor: Any, projected: Any) -> None:
    """Every control's change re-renders the edit (the latest value wins; no queue for the one forward pass)."""
    outputs = [row.edited, row.put_back, row.status]
    for control in row.controls:
        control.change(
            row.edit,
            [editor, projected, *row.controls],
            outputs,
            api_name=False,
            trigger_mode="always_last",
            show_progress="hidden",
        )
    projected.change(row.edit, [editor, projected, *row.controls], outputs, api_name=False, show_progress="hidden")
