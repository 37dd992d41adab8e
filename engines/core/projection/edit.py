"""Editing a finished projection and putting the edit back into the target (pix2latent's purpose, Fig. 1, 2, 11).

An edit renders G (the shared generator, or the copy :func:`~engines.core.projection.fine_tune` tuned) with a
new class embedding (:func:`edited_class_embedding`: a class, or a blend of two, at a strength), with the
generator input moved along directions (:func:`move_latent`), or both; maps the rendering back through φ⁻¹
into the target's frame; and puts it back inside a region: a plain composite (digits on black: every pixel
outside the region is the target's, exactly) or Poisson blending (photos: OpenCV's ``seamlessClone``).

One forward pass of G per edit; nothing is optimised. Everything here is a pure function of tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from engines.core.transforms import footprint, identity_params, invert_transform

BLENDS = ("composite", "poisson")


@dataclass(frozen=True)
class EditResult:
    """One edit of ``B`` projections. output: ``B x C x H x W`` in the generator's frame; reprojected: the same
    mapped back through φ⁻¹ into the target's frame; put_back: the target with ``region`` replaced by (or
    Poisson-blended with) ``reprojected``; region: ``B x 1 x H x W`` 0/1, the pixels the edit may change;
    x: ``B x D`` the generator input used; class_embedding: ``B x E`` or None."""

    output: Tensor
    reprojected: Tensor
    put_back: Tensor
    region: Tensor
    x: Tensor
    class_embedding: Tensor | None


def class_table(generator: nn.Module) -> Tensor:
    """``num_classes x E``: a conditional generator's class-embedding table."""
    if not getattr(generator, "conditional", False):
        raise ValueError("class edits need a class-conditional generator")
    with torch.no_grad():
        labels = torch.arange(generator.num_classes, device=_device(generator))
        return generator.class_embedding(labels).detach()


def nearest_class(table: Tensor, c: Tensor) -> Tensor:
    """``B`` indices of the table rows nearest to ``B x E`` embeddings."""
    return torch.cdist(c.to(table), table).argmin(dim=1)


def edited_class_embedding(
    table: Tensor,
    c: Tensor,
    *,
    target_class: int | Tensor | None,
    strength: float = 1.0,
    blend_class: int | None = None,
    blend: float = 0.5,
) -> Tensor:
    """The class embedding of an edit, ``B x E``.

    table: ``num_classes x E``; c: ``B x E``, the projection's embedding; target_class: one class, or ``B``
    classes (one per item). The edit's class vector is ``target_class``'s row, or with ``blend_class`` the mix
    ``(1 − blend)·row[target] + blend·row[blend_class]``; the result is ``(1 − strength)·c + strength·vector``
    (0 keeps the projection's c, 1 replaces it, as pix2latent replaces BigGAN's class vector). None keeps c.
    """
    if target_class is None:
        return c.clone()
    labels = torch.as_tensor(target_class, dtype=torch.long, device=table.device).reshape(-1)
    count = len(table)
    checked = labels if blend_class is None else torch.cat([labels, labels.new_tensor([int(blend_class)])])
    if bool(((checked < 0) | (checked >= count)).any()):
        raise ValueError(f"class {checked.tolist()} is not in [0, {count})")
    if not 0 <= blend <= 1:
        raise ValueError(f"blend must be in [0, 1], got {blend}")
    vector = table[labels]
    if blend_class is not None:
        vector = (1 - blend) * vector + blend * table[int(blend_class)]
    return (1 - strength) * c + strength * vector.to(c).expand_as(c)


def move_latent(x: Tensor, directions: Tensor | None, amounts: Tensor | list[float] | None) -> Tensor:
    """``x + Σ_k amounts[k]·directions[k]``: ``B x D`` inputs, ``K x D`` directions, ``K`` (or ``B x K``) amounts."""
    if directions is None or amounts is None:
        return x
    amounts = torch.as_tensor(amounts, dtype=x.dtype, device=x.device)
    if amounts.shape[-1] != len(directions):
        raise ValueError(f"{amounts.shape[-1]} amounts for {len(directions)} directions")
    if directions.shape[-1] != x.shape[-1]:
        raise ValueError(f"directions are {directions.shape[-1]}-d but the generator input is {x.shape[-1]}-d")
    return x + amounts.expand(len(x), -1) @ directions.to(x)


def composite(reprojected: Tensor, target: Tensor, region: Tensor) -> Tensor:
    """``region``·reprojected + (1 − region)·target with a 0/1 ``B x 1 x H x W`` region: pixels outside it are
    the target's, bit for bit."""
    inside = region > 0.5
    return torch.where(inside, reprojected.to(target), target)


def edit_region(phi: Tensor, shape: tuple[int, ...], mask: Tensor | None = None) -> Tensor:
    """``B x 1 x H x W`` 0/1: where the generator's frame lands on the target under φ (``B x 5``), within the
    object ``mask`` when one is given."""
    region = (footprint(phi, shape) > 0.5).to(phi.dtype)
    if mask is not None:
        region = region * (mask.to(region) > 0.5).to(region.dtype)
    return region


def poisson_blend(source: np.ndarray, destination: np.ndarray, region: np.ndarray) -> np.ndarray:
    """OpenCV's ``seamlessClone`` (normal clone) of ``source`` into ``destination`` (both ``H x W x 3`` uint8 RGB,
    the same size, aligned) inside ``region`` (``H x W`` bool). Pixels outside the region are the destination's,
    bit for bit. The region is kept one pixel off the image's edge (the solver needs a border); an empty region
    returns the destination unchanged."""
    import cv2

    if source.shape != destination.shape or source.shape[:2] != region.shape:
        raise ValueError(f"source {source.shape}, destination {destination.shape} and region {region.shape} differ")
    inner = np.zeros_like(region, dtype=bool)
    inner[1:-1, 1:-1] = region[1:-1, 1:-1]
    if not inner.any():
        return destination.copy()
    rows, cols = np.nonzero(inner)
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    # seamlessClone takes the mask's bounding box and centres it on ``centre``; pad so the box is exactly this
    box = np.zeros((bottom - top + 3, right - left + 3), dtype=np.uint8)
    box[1:-1, 1:-1] = inner[top : bottom + 1, left : right + 1] * 255
    patch = np.ascontiguousarray(source[top - 1 : bottom + 2, left - 1 : right + 2, ::-1])
    centre = ((left - 1) + box.shape[1] // 2, (top - 1) + box.shape[0] // 2)
    blended = cv2.seamlessClone(patch, np.ascontiguousarray(destination[..., ::-1]), box, centre, cv2.NORMAL_CLONE)
    return np.where(inner[..., None], blended[..., ::-1], destination)


def to_uint8(image: Tensor) -> np.ndarray:
    """``3 x H x W`` in [-1, 1] -> ``H x W x 3`` uint8."""
    return ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def from_uint8(array: np.ndarray) -> Tensor:
    """``H x W x 3`` uint8 -> ``3 x H x W`` in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float() / 127.5 - 1


def put_back(reprojected: Tensor, target: Tensor, region: Tensor, *, blend: str = "composite") -> Tensor:
    """``B x C x H x W`` edits (already in the target's frame) put into the targets inside ``region``
    (``B x 1 x H x W``): a composite, or Poisson blending (``blend="poisson"``, 3-channel images)."""
    if blend not in BLENDS:
        raise ValueError(f"unknown blend {blend!r}; choose from {BLENDS}")
    if blend == "composite":
        return composite(reprojected, target, region)
    items = [
        from_uint8(poisson_blend(to_uint8(edit), to_uint8(original), (inside[0] > 0.5).cpu().numpy()))
        for edit, original, inside in zip(reprojected, target, region)
    ]
    blended = torch.stack(items).to(target)
    return torch.where(region > 0.5, blended, target)  # outside: the target, bit for bit


def render(generator: nn.Module, x: Tensor, c: Tensor | None) -> Tensor:
    """One forward pass, no gradients: ``G(x, c)`` for conditional generators with a c, else ``G(x)``."""
    device = _device(generator)
    with torch.no_grad():
        if c is not None:
            return generator.forward_conditional(x.to(device), c.to(device)).detach()
        return generator(x.to(device)).detach()


def edit_projection(
    generator: nn.Module,
    x: Tensor,
    target: Tensor,
    *,
    transform: Tensor | None = None,
    class_embedding: Tensor | None = None,
    target_class: int | Tensor | None = None,
    strength: float = 1.0,
    blend_class: int | None = None,
    blend_share: float = 0.5,
    directions: Tensor | None = None,
    amounts: Tensor | list[float] | None = None,
    mask: Tensor | None = None,
    blend: str = "composite",
) -> EditResult:
    """Edit ``B`` finished projections and put the edits back into their targets.

    generator: G (or its fine-tuned copy); x: ``B x D`` the projection's generator input (z in X-space,
    mapping(z) in Z-space); target: ``B x C x H x W`` in [-1, 1]; transform: φ* ``B x 5`` (None = identity);
    class_embedding: the projection's c ``B x E`` (conditional generators); target_class / strength /
    blend_class / blend_share: the class edit (:func:`edited_class_embedding`); directions ``K x D`` and
    amounts ``K``: the latent move (:func:`move_latent`); mask: ``B x 1 x H x W`` object mask (the region is
    where G's frame lands, within it); blend: ``"composite"`` or ``"poisson"``.
    """
    device = target.device
    phi = transform.to(device) if transform is not None else identity_params(len(target), device)
    c = class_embedding
    if target_class is not None:
        if c is None:
            raise ValueError("a class edit needs the projection's class embedding")
        c = edited_class_embedding(
            class_table(generator).to(c),
            c,
            target_class=target_class,
            strength=strength,
            blend_class=blend_class,
            blend=blend_share,
        )
    moved = move_latent(x.to(device), directions, amounts)
    output = render(generator, moved, c).to(device)
    reprojected = invert_transform(output, phi)
    region = edit_region(phi, target.shape, mask)
    return EditResult(
        output=output,
        reprojected=reprojected,
        put_back=put_back(reprojected, target, region, blend=blend),
        region=region,
        x=moved,
        class_embedding=c,
    )


def _device(module: nn.Module) -> torch.device:
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def put_back_into_photo(
    photo: np.ndarray, crop: Tensor, crop_to_photo: np.ndarray, *, margin: float = 0.08
) -> tuple[np.ndarray, np.ndarray]:
    """The crop (``3 x S x S`` in [-1, 1], e.g. an edited 64 × 64 face) warped back into the full ``photo``
    (``H x W x 3`` uint8) through the alignment's ``crop_to_photo`` map (2 x 3, crop pixels -> photo pixels) and
    Poisson-blended there. The blend region is the crop's footprint in the photo less ``margin`` of the crop's
    side all round (the blend needs the photo's own pixels at its border). Returns (the photo at its own size,
    the ``H x W`` bool region); pixels outside the region are the photo's, bit for bit."""
    import cv2

    height, width = photo.shape[:2]
    side = crop.shape[-1]
    matrix = np.asarray(crop_to_photo, dtype=np.float64)
    # pixel centres: crop pixel (i + 0.5) maps to photo pixel (x + 0.5)
    centred = matrix.copy()
    centred[:, 2] += matrix[:, :2] @ np.array([0.5, 0.5]) - 0.5
    warped = cv2.warpAffine(
        to_uint8(crop), centred, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    inner = np.zeros((side, side), np.uint8)
    edge = int(round(margin * side))
    inner[edge : side - edge, edge : side - edge] = 255
    region = cv2.warpAffine(inner, centred, (width, height), flags=cv2.INTER_NEAREST, borderValue=0) > 0
    return poisson_blend(warped, photo, region), region
