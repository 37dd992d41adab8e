"""Target transforms of pix2latent: spatial T(sx, sy, tx, ty) and brightness γ, with exact inverses.

A transform is a ``B x 5`` tensor φ = (sx, sy, tx, ty, γ); the identity is (1, 1, 0, 0, 1).
Coordinates are ``F.affine_grid``'s normalised [-1, 1] frame (``align_corners=False``). The
*forward* transform maps a target image into the generator's frame: the generator's pixel at
``p`` reads the target at ``(sx·px + tx, sy·py + ty)``, then brightness is scaled,
``T(y) = γ·(y + 1) − 1`` on [-1, 1] images. The *inverse* maps a generation back into the
target's frame: brightness divided by γ, then the inverse affine map. φ's parameters
compose exactly (:func:`inverse_params`); images round-trip exactly where the sampling grid
falls on pixel centres (integer-pixel shifts, unit scale).

CMA searches a vector ``u`` (:func:`search_to_params`): ``log sx, log sy, tx, ty`` for
``spatial``, ``log γ`` for ``color``, both for ``spatial+color``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

TRANSFORMS = ("none", "spatial", "color", "spatial+color")
PARAMS = 5


def check_kind(kind: str) -> str:
    if kind not in TRANSFORMS:
        raise ValueError(f"unknown transform {kind!r}; choose from {TRANSFORMS}")
    return kind


def identity_params(batch: int, device: torch.device | str = "cpu") -> Tensor:
    """``B x 5`` identity transforms (1, 1, 0, 0, 1)."""
    return torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0], device=device).repeat(batch, 1)


def search_dim(kind: str) -> int:
    """Length of CMA's search vector for a transform kind (0 for ``none``)."""
    return {"none": 0, "spatial": 4, "color": 1, "spatial+color": 5}[check_kind(kind)]


def params_to_search(phi: Tensor, kind: str) -> Tensor:
    """``... x 5`` φ -> ``... x search_dim(kind)`` search vector (logs of the scales)."""
    spatial = torch.cat([phi[..., :2].log(), phi[..., 2:4]], dim=-1)
    color = phi[..., 4:5].log()
    return {"none": phi[..., :0], "spatial": spatial, "color": color, "spatial+color": torch.cat([spatial, color], -1)}[
        check_kind(kind)
    ]


def search_to_params(u: Tensor, kind: str, base: Tensor) -> Tensor:
    """``... x search_dim`` search vector -> ``... x 5`` φ; components not searched come from ``base``."""
    phi = base.expand(*u.shape[:-1], PARAMS).clone()
    if kind in ("spatial", "spatial+color"):
        phi[..., :2] = u[..., :2].exp()
        phi[..., 2:4] = u[..., 2:4]
    if kind in ("color", "spatial+color"):
        phi[..., 4] = u[..., -1].exp()
    return phi


def inverse_params(phi: Tensor) -> Tensor:
    """The φ⁻¹ with T_{φ⁻¹} = T_φ⁻¹: scales inverted, shifts ``−t/s``, γ inverted. ``B x 5`` -> ``B x 5``."""
    scale, shift, gamma = phi[:, :2], phi[:, 2:4], phi[:, 4:5]
    return torch.cat([1 / scale, -shift / scale, 1 / gamma], dim=1)


def affine_matrix(phi: Tensor) -> Tensor:
    """``B x 5`` φ -> ``B x 2 x 3`` matrices for ``F.affine_grid``."""
    zero = torch.zeros_like(phi[:, 0])
    rows = [torch.stack([phi[:, 0], zero, phi[:, 2]], 1), torch.stack([zero, phi[:, 1], phi[:, 3]], 1)]
    return torch.stack(rows, dim=1)


def warp(image: Tensor, phi: Tensor, *, padding: str = "border") -> Tensor:
    """The spatial part only: ``B x C x H x W`` resampled on φ's grid (bilinear, ``padding`` outside)."""
    grid = F.affine_grid(affine_matrix(phi).to(image.dtype), list(image.shape), align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def brighten(image: Tensor, gamma: Tensor) -> Tensor:
    """``γ·(y + 1) − 1`` per item; ``gamma`` is ``B``. Black (-1) stays black."""
    return gamma.view(-1, *[1] * (image.dim() - 1)) * (image + 1) - 1


def apply_transform(image: Tensor, phi: Tensor, *, padding: str = "border") -> Tensor:
    """T_φ: target frame -> generator frame. ``B x C x H x W`` -> same shape."""
    return brighten(warp(image, phi, padding=padding), phi[:, 4])


def invert_transform(image: Tensor, phi: Tensor, *, padding: str = "border") -> Tensor:
    """T_φ⁻¹: generator frame -> target frame (the generation as it lands on the target)."""
    return warp(brighten(image, 1 / phi[:, 4]), inverse_params(phi), padding=padding)


def transform_mask(mask: Tensor, phi: Tensor) -> Tensor:
    """A ``B x 1 x H x W`` weight mask into the generator frame; pixels without target content get 0."""
    return warp(mask, phi, padding="zeros")


def footprint(phi: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``B x 1 x H x W``: where the generator frame lands on the target (1 inside, 0 outside)."""
    ones = torch.ones(phi.shape[0], 1, *shape[-2:], device=phi.device)
    return warp(ones, inverse_params(phi), padding="zeros")


def params_from_mask(mask: Tensor, *, object_extent: float = 1.0) -> Tensor:
    """φ0 from a ``B x 1 x H x W`` object mask's bounding box (pixels > 0.5).

    The box's centre becomes (tx, ty) and its half-sizes over ``object_extent`` the scales, so that
    the object fills ``object_extent`` of the generator's frame (1 = the whole frame). An empty mask
    gives the identity.
    """
    batch, _, height, width = mask.shape
    phi = identity_params(batch, mask.device)
    for item in range(batch):
        rows, cols = torch.nonzero(mask[item, 0] > 0.5, as_tuple=True)
        if rows.numel() == 0:
            continue
        left, right = (2 * cols.min() / width - 1), (2 * (cols.max() + 1) / width - 1)
        top, bottom = (2 * rows.min() / height - 1), (2 * (rows.max() + 1) / height - 1)
        phi[item, 0] = (right - left) / 2 / object_extent
        phi[item, 1] = (bottom - top) / 2 / object_extent
        phi[item, 2], phi[item, 3] = (left + right) / 2, (top + bottom) / 2
    return phi


def foreground_box(image: Tensor, threshold: float = 0.25) -> Tensor:
    """``B x 1 x H x W`` boxes around the pixels of ``B x C x H x W`` images (in [-1, 1]) that differ from
    their border's median colour by more than ``threshold`` (e.g. a digit on black). An item without such
    pixels, or whose box is the whole image (e.g. a photo), gets an empty (all-zero) box."""
    border = torch.cat([image[..., 0, :], image[..., -1, :], image[..., :, 0], image[..., :, -1]], dim=-1)
    background = border.median(dim=-1).values[..., None, None]
    differs = (image - background).abs().amax(dim=1) > threshold
    rows, cols = _span(differs.any(2)), _span(differs.any(1))  # B x H, B x W
    box = (rows[:, :, None] & cols[:, None, :]).to(image.dtype)[:, None]
    whole = box.flatten(1).all(1)
    return box * (~whole).to(image.dtype)[:, None, None, None]


def _span(present: Tensor) -> Tensor:
    """``B x L`` booleans -> the same, filled from each row's first True to its last."""
    ones = present.to(torch.int32)
    return (ones.cummax(1).values * ones.flip(1).cummax(1).values.flip(1)).bool()
