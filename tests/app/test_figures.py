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


def test_the_refined_curve_starts_where_it_branches_off():
    figure = loss_figure([1.0, 0.5, 0.4], [1.0, 0.6, 0.5], [1.0, 0.5, 0.3], final=(1, [0.5, 0.01]))
    (final,) = [trace for trace in figure.data if trace.name == "Final (refined past the generator)"]
    assert list(final.x) == [1, 2] and list(final.y) == [0.5, 0.01]
    assert figure.layout.yaxis.dtick == 1  # its low loss counts in the axis range (more than 1.5 decades)
