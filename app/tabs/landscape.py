"""The "Landscape" panel: PCA loss surfaces of X-space and Z-space with the optimisation paths; the X
surface also carries the Z→X path (Z-space for k steps, then X-space), projected onto X's plane.

Figures are built from the plain dicts of :meth:`engines.core.landscape.Surface.to_plain`, so the
panel's ``gr.State`` holds lists and numbers only and the surface/contour toggle redraws
without recomputing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import Tensor, nn

from app.gpu import device_outside_gpu_functions
from app.runs import default_handoff
from engines.core.landscape import LandscapeConfig, LandscapeProgress, explore, handoff_path
from engines.models.registry import ForwardModel, load_mapping, load_model

logger = logging.getLogger(__name__)

SPACE_TITLES = {"x": "X-space (x optimised directly)", "z": "Z-space (x = Θ(z))"}
VIEWS = ("Surface", "Contour")
CONTOUR_LEVELS = 20
EXPLAINER = (
    f"The landscape re-runs its own short optimisation ({LandscapeConfig().steps} steps from zero, in each space) "
    "around the current "
    "target, then plots the loss on the plane of the two directions that path moved most. **Roughness** says "
    "how far the surface is from one smooth bowl: 0 for a perfect bowl, higher for ripples, spikes and extra basins. "
    "The dotted purple path on the X surface is Z→X (Z-space for k steps, then X-space), projected onto X's plane: "
    "it ends where Z→X went, not at the centre."
)
HANDOFF_COLOUR = "#9467bd"  # Z→X's colour everywhere (app.figures.ZX_COLOUR)
Prepare = Callable[[ForwardModel, Any, Any], "tuple[Tensor, Tensor | None]"]


def _colour_range(surfaces: list[dict]) -> tuple[float, float]:
    """One colour scale for every surface shown: min and max over their grids and trajectories."""
    values = [v for s in surfaces for row in s["losses"] for v in row]
    values += [v for s in surfaces for v in s["trajectory_plane_losses"]]
    values += [v for s in surfaces if "handoff_path" in s for v in s["handoff_path"]["trajectory_plane_losses"]]
    finite = [v for v in values if v == v and abs(v) != float("inf")]
    return (min(finite), max(finite)) if finite else (0.0, 1.0)


def _title(space: str, surface: dict | None) -> str:
    if surface is None:
        return f"{SPACE_TITLES[space]}: not available"
    score = surface["smoothness"]
    minima = score["local_minima"]
    return f"{SPACE_TITLES[space]}<br>roughness {score['roughness']:.3f}, {_minima(minima)}"


def _minima(count: int) -> str:
    return f"{count} local minim{'um' if count == 1 else 'a'}"


def _surface_traces(surface: dict, view: str, levels: dict) -> list:
    """The surface (or contour) and the trajectory drawn on it as a line with markers."""
    u, v = zip(*surface["trajectory"])
    hover = "u %{x:.3g}<br>v %{y:.3g}<br>loss on the plane %{customdata[0]:.4g}<br>loss seen %{customdata[1]:.4g}<extra>step %{text}</extra>"
    custom = list(zip(surface["trajectory_plane_losses"], surface["trajectory_losses"]))
    steps = [str(index) for index in range(len(u))]
    colours = ["crimson"] + ["white"] * (len(u) - 1)  # the start (step 0) stands out
    marker = dict(size=4, color=colours, line=dict(color="black", width=1))
    if view == "Contour":
        return [
            go.Contour(
                x=surface["coords"],
                y=surface["coords"],
                z=surface["losses"],
                coloraxis="coloraxis",
                autocontour=False,
                contours=levels,
            ),
            go.Scatter(
                x=u,
                y=v,
                mode="lines+markers",
                line=dict(color="black", width=2),
                marker=marker,
                customdata=custom,
                text=steps,
                hovertemplate=hover,
                showlegend=False,
            ),
        ]
    return [
        go.Surface(x=surface["coords"], y=surface["coords"], z=surface["losses"], coloraxis="coloraxis", opacity=0.95),
        go.Scatter3d(
            x=u,
            y=v,
            # Lifted by 1% of the colour range so the path is not buried in the surface (hover shows true values).
            z=[loss + 0.01 * (levels["end"] - levels["start"]) for loss in surface["trajectory_plane_losses"]],
            mode="lines+markers",
            line=dict(color="black", width=5),
            marker=marker,
            customdata=custom,
            text=steps,
            hovertemplate=hover,
            showlegend=False,
        ),
    ]


def landscape_figure(x_surface: dict | None, z_surface: dict | None, *, view: str = "Surface") -> go.Figure:
    """X (left) and Z (right) side by side with one shared colour scale.

    Surfaces are :meth:`Surface.to_plain` dicts (None shows an empty, labelled panel);
    view is "Surface" (3D) or "Contour" (2D). The trajectory ends at the centre ``(0, 0)``.
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    kind = "scene" if view == "Surface" else "xy"
    figure = make_subplots(
        rows=1,
        cols=2,
        specs=[[{"type": kind}, {"type": kind}]],
        subplot_titles=[_title("x", x_surface), _title("z", z_surface)],
        horizontal_spacing=0.08,
    )
    low, high = _colour_range([s for s in (x_surface, z_surface) if s is not None])
    levels = dict(start=low, end=high, size=(high - low) / CONTOUR_LEVELS or 1.0)  # the same levels on both
    for col, surface in enumerate((x_surface, z_surface), start=1):
        for trace in _surface_traces(surface, view, levels) if surface is not None else []:
            figure.add_trace(trace, row=1, col=col)
        if surface is not None and "handoff_path" in surface:
            figure.add_trace(_handoff_trace(surface, view, levels), row=1, col=col)
    figure.update_layout(
        coloraxis=dict(cmin=low, cmax=high, colorscale="Viridis", colorbar=dict(title="loss")),
        height=500,
        margin=dict(l=10, r=10, t=70, b=10),
        legend=dict(orientation="h", x=0, y=-0.12),  # below the plots, clear of the colour bar
    )
    axes = dict(xaxis_title="PC 1 (u)", yaxis_title="PC 2 (v)", zaxis_title="loss")
    if view == "Surface":
        camera = dict(eye=dict(x=1.1, y=-1.5, z=1.6))  # from above, so the path is not hidden behind a wall
        figure.update_scenes(**axes, zaxis=dict(range=[low, high]), camera=camera)
    else:
        figure.update_xaxes(title_text=axes["xaxis_title"])
        figure.update_yaxes(title_text=axes["yaxis_title"])
    return figure


def _handoff_trace(surface: dict, view: str, levels: dict):
    """The Z→X path on the X surface: dotted green, a diamond at the hand-off step."""
    path, handoff = surface["handoff_path"], surface.get("handoff", 0)
    u, v = zip(*path["trajectory"])
    custom = list(zip(path["trajectory_plane_losses"], path["trajectory_losses"]))
    hover = "Z→X<br>loss on the plane %{customdata[0]:.4g}<br>loss seen %{customdata[1]:.4g}<extra>step %{text}</extra>"
    sizes = [9 if index == handoff else 4 for index in range(len(u))]
    symbols = ["diamond" if index == handoff else "circle" for index in range(len(u))]
    marker = dict(
        size=sizes, color=HANDOFF_COLOUR, symbol=symbols, line=dict(color="white", width=1)
    )  # seen on dark colours
    common = dict(x=u, y=v, mode="lines+markers", customdata=custom, text=[str(i) for i in range(len(u))],
                  hovertemplate=hover, name=f"Z→X (hand-off at step {handoff})", showlegend=True)  # fmt: skip
    if view == "Contour":
        return go.Scatter(**common, line=dict(color=HANDOFF_COLOUR, width=3, dash="dot"), marker=marker)
    lift = 0.01 * (levels["end"] - levels["start"])
    lifted = [loss + lift for loss in path["trajectory_plane_losses"]]
    line = dict(color=HANDOFF_COLOUR, width=5, dash="dot")
    return go.Scatter3d(**common, z=lifted, line=line, marker={**marker, "symbol": "diamond"})


def default_prepare(forward: ForwardModel, target_value: Any, mask_value: Any) -> tuple[Tensor, Tensor | None]:
    """The model's own ``prepare_target`` on the raw value; no mask."""
    tensor, _notice = forward.prepare_target(target_value)
    return tensor, None


def _optional_mapping(model_name: str, device: torch.device | str = "cpu") -> tuple[nn.Module | None, str]:
    try:
        return load_mapping(model_name, device), ""
    except (ValueError, FileNotFoundError) as error:
        logger.info("no Θ for %s: %s", model_name, error)
        return None, f"Z-space not shown: no trained Θ for {model_name}."


def _fraction(space_index: int, spaces: int, report: LandscapeProgress) -> float:
    """Overall progress: each space gets an equal share, 20% optimising then 80% grid."""
    within = 0.2 * report.done / report.total if report.stage == "optimise" else 0.2 + 0.8 * report.done / report.total
    return (space_index + within) / spaces


def compute_surfaces(
    forward: ForwardModel,
    mapping: nn.Module | None,
    target: Tensor,
    weight: Tensor | None,
    config: LandscapeConfig,
    progress: Callable[[float, str], None],
    handoff: int | None = None,
) -> dict[str, dict]:
    """Plain X (and Z when ``mapping`` is given) surfaces for one ``1 x output_shape`` target; with a
    ``handoff`` step too, the X surface carries the Z→X path (``"handoff_path"``, ``"handoff"``)."""
    spaces = [("x", None)] + ([("z", mapping)] if mapping is not None else [])
    surfaces: dict[str, dict] = {}
    for space_index, (space, space_mapping) in enumerate(spaces):
        for report in explore(forward, target, mapping=space_mapping, weight=weight, config=config):
            progress(_fraction(space_index, len(spaces), report), f"{space.upper()}-space: {report.stage}")
        surfaces[space] = report.surface.to_plain()
        if space == "x" and mapping is not None and handoff is not None:
            path = handoff_path(forward, target, report.surface, mapping=mapping, handoff=handoff, weight=weight, config=config)  # fmt: skip
            surfaces["x"].update(handoff_path=path.to_plain(), handoff=handoff)
    return surfaces


def status_text(surfaces: dict[str, dict], notice: str) -> str:
    lines = []
    for space, surface in surfaces.items():
        score = surface["smoothness"]
        lines.append(
            f"**{space.upper()}**: {len(surface['coords'])}² grid, radius {surface['radius']:.3g} "
            f"(= slider × reach {surface['reach']:.3g}), roughness {score['roughness']:.3f} (mean |Δ| {score['laplacian']:.3f}), "
            f"{_minima(score['local_minima'])}, {surface['seconds']:.2f} s"
        )
    if {"x", "z"} <= surfaces.keys():
        smoother = surfaces["z"]["smoothness"]["roughness"] < surfaces["x"]["smoothness"]["roughness"]
        lines.append(f"Z surface is {'smoother' if smoother else 'not smoother'} than X.")
    if "handoff_path" in surfaces.get("x", {}):
        lines.append(handoff_text(surfaces["x"]))
    if surfaces:
        lines.append(ROUGHNESS_TEXT)
    return "  \n".join(lines + ([notice] if notice else []))


ROUGHNESS_TEXT = (
    "*Roughness* has no unit: how much the surface's curvature varies, relative to its height (max − min loss). "
    "Any bowl, plane or saddle scores 0; ripples, spikes and extra basins score higher."
)


def handoff_text(surface: dict) -> str:
    """What the Z→X path on the X surface did: handed off within the path's steps, or stayed in Z throughout."""
    path, x_seen, handoff = (
        surface["handoff_path"]["trajectory_losses"],
        surface["trajectory_losses"],
        surface["handoff"],
    )
    steps = len(path) - 1
    if handoff >= steps:
        return (
            f"Z→X stays in Z-space along this {steps}-step path (its hand-off to X comes at step {handoff}): "
            f"it ends at loss {path[-1]:.4g}, X at {x_seen[-1]:.4g} after the same {steps} steps."
        )
    return (
        f"Z→X (Z-space for {handoff} steps, then X-space) ends at loss {path[-1]:.4g}, "
        f"X at {x_seen[-1]:.4g} after the same {steps} steps."
    )


@dataclass(frozen=True)
class LandscapePanel:
    """The panel's components, and ``compute`` with its ``inputs``/``outputs`` for chaining after a run:
    ``run_event.then(panel.compute, panel.inputs, panel.outputs)``."""

    accordion: gr.Accordion
    grid: gr.Slider
    radius: gr.Slider
    view: gr.Radio
    button: gr.Button
    status: gr.Markdown
    plot: gr.Plot
    state: gr.State
    compute: Callable
    inputs: list
    outputs: list


def build_landscape_panel(
    *,
    model: gr.components.Component,
    target: gr.components.Component,
    mask: gr.components.Component | None = None,
    prepare: Prepare = default_prepare,
    loss: str = "mse",
    open: bool = False,
    accordion: bool = True,
) -> LandscapePanel:
    """Create the "Landscape" accordion inside the caller's ``gr.Blocks`` and wire its events.

    model: a component or ``gr.State`` whose value is a registered model name (e.g. "faces64").
    target: a component or ``gr.State`` holding the tab's raw target (the uploaded image, the
        observed joints, ...), whatever ``prepare`` understands.
    mask: optional component or ``gr.State`` with the raw mask value, passed to ``prepare``.
    prepare: ``(forward_model, target_value, mask_value) -> (target, weight)`` with target
        ``output_shape`` or ``1 x output_shape`` and weight a mask broadcastable to the output
        (0 = unknown) or None. Default: ``forward.prepare_target(target_value)``, no mask. The pose
        tab passes its own, turning observed joints and their visibility into a target and mask.
    loss: the objective's name in :data:`engines.core.losses.LOSSES` (MSE by default: each grid point is one
        forward pass, and LPIPS would multiply the cost).
    accordion: False puts the panel in a plain column (e.g. its own tab beside the loss curves), not an accordion.
    Returns a :class:`LandscapePanel`; the compute button recomputes on demand.
    """
    box = gr.Accordion("Landscape", open=open) if accordion else gr.Column(elem_id="landscape-panel")
    with box as accordion:
        with gr.Row():
            grid = gr.Slider(5, 61, value=25, step=2, label="Grid resolution (points per side)")
            radius = gr.Slider(
                0.1,
                3.0,
                value=LandscapeConfig().radius,
                step=0.1,
                label="Radius (× the optimiser's reach: at 1 the path just fits)",
            )
            view = gr.Radio(list(VIEWS), value="Surface", label="View")
        gr.Markdown(EXPLAINER)
        button = gr.Button("Compute landscape")
        status = gr.Markdown()
        plot = gr.Plot(label="Loss landscape: X and Z")
        state = gr.State({})

    def compute(
        model_name, target_value, mask_value, grid_points, radius_scale, view_name, progress=gr.Progress()
    ) -> Iterator[dict]:
        if not model_name or target_value is None:
            raise gr.Error("Give a target first: the landscape is computed around its inversion.")
        yield {status: "Computing…"}
        device = device_outside_gpu_functions()
        forward = load_model(model_name, device)
        mapping, notice = _optional_mapping(model_name, device)
        config = LandscapeConfig(grid=int(grid_points), radius=float(radius_scale), loss=loss)
        try:
            target, weight = prepare(forward, target_value, mask_value)
            target = target if target.dim() > len(forward.output_shape) else target.unsqueeze(0)
            report = lambda fraction, text: progress(fraction, desc=text)  # noqa: E731
            surfaces = compute_surfaces(forward, mapping, target, weight, config, report, default_handoff(model_name))
        except ValueError as error:  # unusable target or mask: tell the user, keep the page usable
            raise gr.Error(f"Cannot use this target: {error}") from error
        figure = landscape_figure(surfaces.get("x"), surfaces.get("z"), view=view_name)
        yield {plot: figure, status: status_text(surfaces, notice), state: surfaces}

    def redraw(surfaces: dict, view_name: str):
        return landscape_figure(surfaces.get("x"), surfaces.get("z"), view=view_name) if surfaces else None

    mask_input = mask if mask is not None else gr.State(None)
    inputs = [model, target, mask_input, grid, radius, view]
    outputs = [plot, status, state]
    button.click(compute, inputs=inputs, outputs=outputs, api_name=False)
    view.change(redraw, inputs=[state, view], outputs=plot, api_name=False)
    return LandscapePanel(
        accordion=accordion,
        grid=grid,
        radius=radius,
        view=view,
        button=button,
        status=status,
        plot=plot,
        state=state,
        compute=compute,
        inputs=inputs,
        outputs=outputs,
    )
