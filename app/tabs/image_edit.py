"""The Image tab's "Edit and put back" panel (not a tab of its own): after a run, ten direction sliders on the chosen
pane's latent (faces64: GANSpace PC1–PC10; ffhq64-w: GANSpace in W, the named ones first), and "Put back into my photo": the pane's face (or its edit) warped
back through the inverse of the upload's alignment and Poisson-blended into the full photo at its own size,
downloadable. The computing is in :mod:`app.edits`; each pane's latent is kept per session on the server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.edits import IMAGE_PANES, PANE_LATENTS, face_edit, load_directions, photo_with_face
from app.media import image_file
from app.projection_runs import shown
from app.session import session_id
from app.targets import face_crop_of

logger = logging.getLogger(__name__)

SLIDERS = 10


def remember_run(key: str, model: str, latents: tuple | None) -> None:
    """Keep a finished run's pane latents (X, Z, Z→X) for session ``key``'s edits."""
    if latents is not None:
        PANE_LATENTS.put(key, model, dict(zip(IMAGE_PANES, latents)))


@dataclass(eq=False)
class FaceEditPanel:
    """The panel's components; :meth:`edit` follows the sliders, :meth:`put_back` fills the photo."""

    pane: gr.Radio
    sliders: list[gr.Slider]
    edited: gr.Image
    put_back_button: gr.Button
    photo: gr.Image
    status: gr.Markdown

    def _crop(self, pane: str, amounts: list[float], request: Any):
        kept = PANE_LATENTS.latest(session_id(request))
        if kept is None:
            raise ValueError("run an inversion first: the edit starts from a pane's result")
        model, latents = kept
        if pane not in latents:
            raise ValueError(f"choose a pane from {list(latents)}")
        return face_edit(model, latents[pane], [float(value) for value in amounts])

    def _model(self, request: Any) -> str | None:
        kept = PANE_LATENTS.latest(session_id(request))
        return None if kept is None else kept[0]

    def edit(self, pane, pc1, pc2, pc3, pc4, pc5, pc6, pc7, pc8, pc9, pc10, request: gr.Request = None) -> dict:
        """(Gradio passes the request only to a parameter annotated ``gr.Request``: no ``*args`` here.)"""
        amounts = [pc1, pc2, pc3, pc4, pc5, pc6, pc7, pc8, pc9, pc10]
        try:
            crop = self._crop(pane, amounts, request)
        except (ValueError, FileNotFoundError) as error:
            return {self.status: f"⚠ {error}"}
        names = _direction_names(self._model(request))
        moved = ", ".join(f"{names[k]} {value:+.1f}" for k, value in enumerate(amounts) if value) or "no move"
        return {self.edited: image_file(shown(crop[0])), self.status: f"{pane} pane · {moved} (one forward pass)"}

    def put_back(self, upload, align, pane, pc1, pc2, pc3, pc4, pc5, pc6, pc7, pc8, pc9, pc10, request: gr.Request = None) -> dict:  # fmt: skip
        amounts = [pc1, pc2, pc3, pc4, pc5, pc6, pc7, pc8, pc9, pc10]
        if not upload:
            return {self.status: "⚠ upload a photo first: the face goes back into your own photo"}
        try:
            crop = self._crop(pane, amounts, request)
            face_crop = face_crop_of(self._model(request) or "") or "celeba"
            photo, pixels = photo_with_face(
                getattr(upload, "name", upload), crop, align=bool(align), face_crop=face_crop
            )
        except (ValueError, FileNotFoundError, OSError) as error:
            return {self.status: f"⚠ {error}"}
        except Exception as error:  # shown and logged, so the page stays usable
            logger.exception("put back failed")
            return {self.status: f"⚠ internal error: {error!r}"}
        line = f"Put back into your photo ({photo.width}×{photo.height}): {pixels} pixels Poisson-blended, the rest untouched"  # fmt: skip
        return {self.photo: image_file(photo), self.status: line}


def _direction_names(model: str | None) -> list[str]:
    """The slider names of ``model``'s shipped directions ("PC1 · gender", ...), PC1–PC10 otherwise."""
    names = list(load_directions(model)[0]) if model else []
    return names + [f"PC{k + 1}" for k in range(len(names), SLIDERS)]


def build_face_edit_panel() -> FaceEditPanel:
    with gr.Accordion("Edit the face and put it back into my photo", open=False, elem_id="face-edit"):
        pane = gr.Radio(list(IMAGE_PANES), value="Z→X", label="Pane to edit", elem_id="face-edit-pane")
        with gr.Row():
            sliders = [
                gr.Slider(-3, 3, value=0, step=0.25, label=f"PC{k + 1}", elem_id=f"face-edit-pc{k + 1}", min_width=80)
                for k in range(SLIDERS)
            ]
        with gr.Row(equal_height=True):
            edited = gr.Image(label="Edited face", interactive=False, format="png", height=200, elem_id="face-edited")
            photo = gr.Image(
                label="Your photo with the face put back", interactive=False, format="png", height=300,
                buttons=["download", "fullscreen"], elem_id="face-put-back",
            )  # fmt: skip
        put_back_button = gr.Button("Put back into my photo", elem_id="face-put-back-button")
        status = gr.Markdown("", elem_id="face-edit-status")
    return FaceEditPanel(pane, sliders, edited, put_back_button, photo, status)


def wire_face_edit_panel(panel: FaceEditPanel, upload: Any, align: Any) -> None:
    controls = [panel.pane, *panel.sliders]
    for control in controls:
        control.change(
            panel.edit, controls, [panel.edited, panel.status], api_name=False, trigger_mode="always_last",
            show_progress="hidden",
        )  # fmt: skip
    panel.put_back_button.click(panel.put_back, [upload, align, *controls], [panel.photo, panel.status], api_name=False)
