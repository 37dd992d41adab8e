"""Edits of a finished projection for the Projection tab and the ``/edit`` API (no Gradio here).

An edit is one forward pass of G (:func:`engines.core.projection.edit.edit_projection`): a new class (digits:
target class and strength), a move along the model's shipped latent directions (digits: shift x, shift y, zoom;
faces64: the first ten GANSpace directions), then φ⁻¹ back into the target and put back (digits on black: a
plain composite; photos: Poisson blending). A Fine-tune's tuned copy of G is kept per session on the server
(:data:`TUNED`), never in ``gr.State``.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass

import torch
from PIL import Image
from torch import Tensor, nn

from app.projection_runs import Projected, get_mapping, shown
from engines.core.device import default_device
from engines.core.projection.edit import EditResult, edit_projection
from engines.core.transforms import foreground_box
from engines.io.checkpoint import load_tensors, resolve_asset
from engines.models.registry import load_model


@functools.cache
def load_directions(model: str) -> tuple[tuple[str, ...], Tensor | None, tuple[float, float]]:
    """``model``'s shipped edit directions: (names, ``K x D`` directions, amount range); none when the asset
    ``<model>_directions`` is absent (``python -m engines.train directions --model MODEL`` makes it)."""
    try:
        tensors, meta = load_tensors(resolve_asset(f"{model}_directions"))
    except (FileNotFoundError, ValueError):
        return (), None, (-1.0, 1.0)
    low, high = meta.get("amount_range", [-1.0, 1.0])
    return tuple(meta["names"]), tensors["directions"], (float(low), float(high))


@dataclass(frozen=True, kw_only=True)
class EditSettings:
    """One edit: ``target_class`` (None = keep the projection's class) at ``strength`` (0 = the projection's c,
    1 = the class's embedding), and an amount per shipped direction (``amounts``, by direction name)."""

    target_class: int | None = None
    strength: float = 1.0
    amounts: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.strength <= 1:
            raise ValueError(f"class strength must be in [0, 1], got {self.strength}")


class TunedStore:
    """The tuned copies of G by session (the latest few sessions only): a Fine-tune puts, an edit takes."""

    def __init__(self, limit: int = 8):
        self.limit, self.items, self.lock = limit, OrderedDict(), threading.Lock()

    def put(self, key: str, projected: Projected, generator: nn.Module) -> None:
        with self.lock:
            self.items[key] = (projected, generator)
            self.items.move_to_end(key)
            while len(self.items) > self.limit:
                self.items.popitem(last=False)

    def get(self, key: str, projected: Projected) -> nn.Module | None:
        """The tuned copy for this session's ``projected`` (None when it was tuned on another projection)."""
        with self.lock:
            kept = self.items.get(key)
        return kept[1] if kept is not None and kept[0] == projected else None

    def forget(self, key: str) -> None:
        with self.lock:
            self.items.pop(key, None)


TUNED = TunedStore()


def blend_for(image: Tensor) -> str:
    """``"composite"`` for an object on a plain background (a digit on black), ``"poisson"`` for photos."""
    return "composite" if bool(foreground_box(image).any()) else "poisson"


def edit_of(
    image: Tensor, mask: Tensor | None, projected: Projected, settings: EditSettings, tuned: nn.Module | None = None
) -> EditResult:
    """Edit a finished projection of ``1 x 3 x H x W`` (``mask``: the painted object box or None) and put it
    back. ``tuned``: the fine-tuned copy of G, when there is one for this projection."""
    device = default_device()
    generator = tuned if tuned is not None else load_model(projected.model, device)
    z = torch.tensor([projected.z], device=device)
    with torch.no_grad():
        x = get_mapping(projected.model, device)[0](z) if projected.space == "z" else z
    names, directions, _ = load_directions(projected.model)
    wanted = dict(settings.amounts)
    unknown = set(wanted) - set(names)
    if unknown:
        raise ValueError(f"no direction {sorted(unknown)} for {projected.model}; it has {list(names)}")
    amounts = [float(wanted.get(name, 0.0)) for name in names] if directions is not None else None
    c = None if projected.class_embedding is None else torch.tensor([projected.class_embedding], device=device)
    return edit_projection(
        generator,
        x,
        image.to(device),
        transform=torch.tensor([projected.transform], device=device),
        class_embedding=c,
        target_class=settings.target_class if c is not None else None,
        strength=settings.strength,
        directions=None if directions is None else directions.to(device),
        amounts=amounts,
        mask=None if mask is None else mask.to(device),
        blend=blend_for(image),
    )


def edit_images(
    image: Tensor, mask: Tensor | None, projected: Projected, settings: EditSettings, tuned: nn.Module | None = None
) -> tuple[Image.Image, Image.Image]:
    """(the edited object in the generator's frame, the edit put back into the target) for display."""
    result = edit_of(image, mask, projected, settings, tuned)
    return shown(result.output[0].cpu()), shown(result.put_back[0].cpu())


class LatentStore(TunedStore):
    """Each session's last Image-tab run: its panes' generator inputs (``{"X": 1 x D, ...}``) and model."""

    def put(self, key: str, model: str, latents: dict[str, Tensor]) -> None:  # type: ignore[override]
        super().put(key, model, latents)

    def latest(self, key: str) -> tuple[str, dict[str, Tensor]] | None:
        with self.lock:
            return self.items.get(key)


PANE_LATENTS = LatentStore()
IMAGE_PANES = ("X", "Z", "Z→X")


def face_edit(model: str, latent: Tensor, amounts: list[float]) -> Tensor:
    """``G(x + Σ_k amounts[k]·v_k)`` for a pane's input ``x`` (``1 x D``) and the model's shipped directions
    (faces64: GANSpace PC1–PC10): ``1 x 3 x S x S`` in [-1, 1], one forward pass."""
    from engines.core.projection.edit import move_latent, render

    names, directions, _ = load_directions(model)
    generator = load_model(model, default_device())
    if directions is None:
        if any(amounts):
            raise ValueError(f"{model} ships no edit directions (python -m engines.train directions --model {model})")
        return render(generator, latent, None).cpu()
    moved = move_latent(latent.to(directions), directions, list(amounts)[: len(names)] + [0.0] * (len(names) - len(amounts)))  # fmt: skip
    return render(generator, moved, None).cpu()


def photo_with_face(photo_source, crop: Tensor, *, align: bool, face_crop: str = "celeba") -> tuple[Image.Image, int]:
    """The uploaded photo at its own size with ``crop`` (``1 x 3 x S x S``, the aligned crop's frame: the model's
    ``face_crop``) warped back through the inverse alignment and Poisson-blended in; and how many pixels the
    blend region holds."""
    import numpy as np

    from engines.core.projection.edit import put_back_into_photo
    from engines.io.images import to_rgb
    from engines.models.faces.align import align_face, crop_to_photo

    with Image.open(photo_source) as opened:
        photo = to_rgb(opened)
    landmarks = align_face(photo, crop.shape[-1], face_crop)[1].landmarks if align else None
    matrix = crop_to_photo(photo.size, landmarks, crop.shape[-1], face_crop)
    blended, region = put_back_into_photo(np.asarray(photo), crop[0], matrix)
    return Image.fromarray(blended), int(region.sum())
