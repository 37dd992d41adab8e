"""The loss chart never shows bare, unexplained axes."""

from __future__ import annotations

import math

from app.figures import loss_figure


def test_a_run_with_no_finite_loss_says_it_diverged():
    figure = loss_figure([math.nan, math.inf], [math.inf, math.nan], [math.nan, math.nan])
    assert "diverged" in figure.layout.annotations[0].text
    assert list(figure.layout.yaxis.range) == [-2, 0]  # labelled log axes, not Plotly's empty -1…1


def test_a_sound_run_has_no_message():
    assert not loss_figure([1.0, 0.5], [1.0, 0.4], [1.0, 0.3]).layout.annotations
