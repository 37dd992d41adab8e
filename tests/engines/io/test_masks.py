"""Mask presets shared by the image tab and the hypotheses benchmark."""

from __future__ import annotations

import pytest

from engines.io.masks import MASK_NAMES, PRESETS, preset_known


def test_short_names_are_the_app_presets():
    assert set(MASK_NAMES.values()) <= set(PRESETS)
    for short, preset in MASK_NAMES.items():
        assert preset_known(short, 64).equal(preset_known(preset, 64))


def test_preset_regions_on_a_64_face():
    assert preset_known("none", 64).all()
    mouth = preset_known("mouth", 64)
    assert mouth[40:54, 18:46].sum() == 0 and mouth.sum() == 64 * 64 - 14 * 28
    centre = preset_known("centre", 64)
    assert centre[16:48, 16:48].all() and centre.sum() == 32 * 32
    left = preset_known("left", 32)  # regions scale with the side
    assert left[:, :16].sum() == 0 and left[:, 16:].all()


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown mask preset"):
        preset_known("nose", 64)
