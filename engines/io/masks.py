"""Mask presets for image targets, shared by the app's image tab and the hypotheses benchmark.

A mask is ``S x S`` float: 1 = known (counts in the loss), 0 = unknown (hidden). Regions are laid out
for aligned 64×64 faces and scale with the side ``S``.
"""

from __future__ import annotations

import torch
from torch import Tensor

PRESETS = ("none", "keep centre", "hide mouth", "left half")
# The benchmark's short names (``--mask``) for the presets that hide something.
MASK_NAMES = {"mouth": "hide mouth", "left": "left half", "centre": "keep centre"}


def preset_known(preset: str, size: int) -> Tensor:
    """``S x S`` float mask of a preset (a name of ``PRESETS`` or ``MASK_NAMES``): 1 = known, 0 = unknown."""
    preset = MASK_NAMES.get(preset, preset)
    if preset not in PRESETS:
        raise ValueError(f"unknown mask preset {preset!r}; choose from {PRESETS} or {tuple(MASK_NAMES)}")
    known = torch.ones(size, size)
    unit = size / 64
    if preset == "keep centre":
        known.zero_()
        known[round(16 * unit) : round(48 * unit), round(16 * unit) : round(48 * unit)] = 1
    elif preset == "hide mouth":
        known[round(40 * unit) : round(54 * unit), round(18 * unit) : round(46 * unit)] = 0
    elif preset == "left half":
        known[:, : size // 2] = 0
    return known
