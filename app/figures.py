"""Plotly figures for the app (kept out of engines/, which never imports plotly)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import plotly.graph_objects as go
import plotly.io as pio

X_COLOUR = "#1f77b4"
Z_COLOUR = "#d62728"
ZX_COLOUR = "#9467bd"  # purple: green is the pose tab's target
REFERENCE_COLOUR = "#7f7f7f"
FINAL_COLOUR = "#ff7f0e"  # "Refine past the generator": the last stage's curve, from the step it branches off Z→X
FINAL_NAME = "Final (refined past the generator)"
SPACE_NAMES = ("X-space", "Z-space (Θ)", "Z→X (hand-off)")
SPACE_COLOURS = (X_COLOUR, Z_COLOUR, ZX_COLOUR)


def loss_figure(
    x_losses: Sequence[float],
    z_losses: Sequence[float],
    zx_losses: Sequence[float] | None = None,
    *,
    title: str = "loss vs step",
    reference: tuple[str, float] | None = None,
    handoff: int | None = None,
    final: tuple[int, Sequence[float]] | None = None,
) -> go.Figure:
    """The loss curves (step 0, 1, ...) of X, Z and, when given, Z→X on a log axis; non-finite values are
    left out. reference: ``(name, loss)`` drawn as a flat dashed line (the encoder's one pass);
    handoff: the step where Z→X leaves Z-space, marked on the Z→X curve; final: ``(first step, losses)`` of
    the last stage, drawn from that step on. With no finite value at all the axes still show, labelled, so an
    empty chart never looks like a broken one."""
    curves = [curve for curve in (x_losses, z_losses, zx_losses) if curve is not None]
    shown = [value for curve in (*curves, final[1] if final else ()) for value in curve if math.isfinite(value) and value > 0]  # fmt: skip
    if reference is not None and math.isfinite(reference[1]) and reference[1] > 0:
        shown.append(reference[1])
    decades = math.log10(max(shown) / min(shown)) if shown else 0.0
    traces = []
    for name, losses, colour in zip(SPACE_NAMES, curves, SPACE_COLOURS):
        steps = [index for index, value in enumerate(losses) if math.isfinite(value) and value > 0]
        dash = "dot" if colour == ZX_COLOUR else None
        line = {"color": colour, "width": 2, **({"dash": dash} if dash else {})}
        traces.append({"type": "scatter", "x": steps, "y": [losses[i] for i in steps], "mode": "lines", "name": name, "line": line})  # fmt: skip
    if handoff is not None and zx_losses is not None and 0 < handoff < len(zx_losses):
        marker = {"color": ZX_COLOUR, "size": 8, "symbol": "diamond"}
        traces.append({"type": "scatter", "x": [handoff], "y": [zx_losses[handoff]], "mode": "markers", "name": "hand-off", "marker": marker})  # fmt: skip
    if final is not None:
        traces.append(_final_trace(*final))
    # one constructor call with plain dicts (see light_template): this runs twice a second per streaming session
    layout = {
        "title": {"text": title, "x": 0.02},
        "xaxis": {"title": {"text": "step"}},
        # readable log ticks: one per decade over a wide range, else 0.2, 0.5, 1... (never bare mantissa digits)
        "yaxis": {"title": {"text": "loss"}, "type": "log", "dtick": 1 if decades > 1.5 else "D2", "tickformat": ".2g"},
        "height": 300,
        "margin": {"l": 55, "r": 10, "t": 40, "b": 40},
        "legend": {"orientation": "h", "y": 1.14, "x": 1, "xanchor": "right"},
        "template": light_template(),
    }
    figure = go.Figure(data=traces, layout=layout)
    if reference is not None:
        add_reference(figure, *reference, last=max((len(curve) for curve in curves), default=1) - 1)
    if not shown:
        figure.update_layout(xaxis={"range": [0, 200]}, yaxis={"type": "log", "range": [-2, 0]})
        if any(len(curve) for curve in curves):  # steps ran, yet no loss could be drawn (NaN / infinite)
            message = "No finite loss to draw: the run diverged (see the status above)"
            figure.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return figure


def _final_trace(first_step: int, losses: Sequence[float]) -> dict:
    steps = [first_step + index for index, value in enumerate(losses) if math.isfinite(value) and value > 0]
    line = {"color": FINAL_COLOUR, "width": 2}
    return {"type": "scatter", "x": steps, "y": [losses[step - first_step] for step in steps], "mode": "lines", "name": FINAL_NAME, "line": line}  # fmt: skip


@functools.cache
def light_template(traces: tuple[str, ...] = ("scatter",), *, scene: bool = False) -> dict:
    """Plotly's "plotly_white" cut down to what a chart of ``traces`` uses (layout colours, fonts, 2-D axes, the
    3-D ``scene`` when asked; those trace kinds' defaults), read once. The whole template (defaults for 24 trace
    kinds, polar axes, maps) is what made each figure slow to build: ~25 ms of Python per loss chart."""
    full = pio.templates["plotly_white"].to_plotly_json()
    keep = ["autotypenumbers", "colorway", "font", "hovermode", "hoverlabel", "paper_bgcolor", "plot_bgcolor",
            "xaxis", "yaxis", "title", "shapedefaults", "annotationdefaults"] + (["scene"] if scene else [])  # fmt: skip
    layout = {key: full["layout"][key] for key in keep if key in full["layout"]}
    return {"layout": layout, "data": {kind: full["data"][kind] for kind in traces if kind in full["data"]}}


def add_reference(figure: go.Figure, name: str, loss: float, *, last: int) -> go.Figure:
    """A flat dashed line at ``loss`` from step 0 to ``last`` (e.g. the encoder's one forward pass)."""
    if math.isfinite(loss) and loss > 0:
        line = {"color": REFERENCE_COLOUR, "width": 1.5, "dash": "dash"}
        figure.add_trace(go.Scatter(x=[0, max(last, 1)], y=[loss, loss], mode="lines", name=name, line=line))
    return figure


def empty_loss_figure(message: str = "Run to see X, Z and Z→X side by side") -> go.Figure:
    """The chart before any run (drawn on page load, so Plotly is loaded before the first Run)."""
    figure = loss_figure([], [], [])
    figure.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return figure
