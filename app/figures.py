"""Plotly figures for the app (kept out of engines/, which never imports plotly)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

X_COLOUR = "#1f77b4"
Z_COLOUR = "#d62728"


def loss_figure(x_losses: Sequence[float], z_losses: Sequence[float], *, title: str = "loss vs step") -> go.Figure:
    """Both loss curves (step 0, 1, ...) on a log axis; non-finite values are left out."""
    figure = go.Figure()
    shown = [value for value in (*x_losses, *z_losses) if math.isfinite(value) and value > 0]
    decades = math.log10(max(shown) / min(shown)) if shown else 0.0
    for name, losses, colour in (("X-space", x_losses, X_COLOUR), ("Z-space (Θ)", z_losses, Z_COLOUR)):
        steps = [index for index, value in enumerate(losses) if math.isfinite(value) and value > 0]
        figure.add_trace(
            go.Scatter(
                x=steps, y=[losses[i] for i in steps], mode="lines", name=name, line={"color": colour, "width": 2}
            )
        )
    figure.update_layout(
        title={"text": title, "x": 0.02},
        xaxis_title="step",
        yaxis_title="loss",
        # readable log ticks: one per decade over a wide range, else 0.2, 0.5, 1... (never bare mantissa digits)
        yaxis={"type": "log", "dtick": 1 if decades > 1.5 else "D2", "tickformat": ".2g"},
        height=300,
        margin={"l": 55, "r": 10, "t": 40, "b": 40},
        legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
        template="plotly_white",
    )
    return figure
