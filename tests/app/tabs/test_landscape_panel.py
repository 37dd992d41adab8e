"""The landscape panel: figures and the panel's handler on a registered model."""

from __future__ import annotations

import pytest
import torch

from tests.engines.core.test_landscape import LinearMapping, LinearModel, plain_surfaces


@pytest.fixture
def linear_model():
    return LinearModel().eval()


@pytest.fixture
def linear_targets():
    return torch.randn(3, 5, generator=torch.Generator().manual_seed(2))


def test_figure_shows_both_surfaces_with_one_colour_scale_and_the_paths(linear_model, linear_targets):
    from app.tabs.landscape import landscape_figure

    x_surface, z_surface = plain_surfaces(linear_model, linear_targets, LinearMapping(z_dim=4, x_dim=6))
    figure = landscape_figure(x_surface, z_surface)
    kinds = [trace.type for trace in figure.data]
    assert kinds == ["surface", "scatter3d", "surface", "scatter3d"]
    assert all(trace.coloraxis == "coloraxis" for trace in figure.data if trace.type == "surface")
    all_losses = [v for s in (x_surface, z_surface) for row in s["losses"] for v in row]
    assert figure.layout.coloraxis.cmin == pytest.approx(min(all_losses))
    assert figure.layout.coloraxis.cmax >= max(all_losses)
    path = figure.data[1]
    assert path.mode == "lines+markers" and len(path.x) == 6
    assert (path.x[-1], path.y[-1]) == pytest.approx((0.0, 0.0), abs=1e-6)
    assert figure.data[0].scene != figure.data[2].scene  # side by side, one scene each
    contour = landscape_figure(x_surface, z_surface, view="Contour")
    assert [trace.type for trace in contour.data] == ["contour", "scatter", "contour", "scatter"]
    assert contour.data[0].contours.start == contour.data[2].contours.start == figure.layout.coloraxis.cmin
    assert contour.data[0].contours.size == contour.data[2].contours.size > 0  # same levels on both
    only_x = landscape_figure(x_surface, None)
    assert len(only_x.data) == 2 and "not available" in only_x.layout.annotations[1].text
    with pytest.raises(ValueError, match="view"):
        landscape_figure(x_surface, z_surface, view="3d")


def test_panel_builds_and_computes_for_a_registered_model(monkeypatch, linear_model):
    import gradio as gr

    from app.tabs import landscape as landscape_panel
    from engines.models import registry as models

    spec = models.ModelSpec(
        name="test-linear",
        description="linear",
        output_kind="pose",
        load=lambda: linear_model,
        load_mapping=lambda: LinearMapping(z_dim=4, x_dim=6),
    )
    monkeypatch.setitem(models.MODELS, "test-linear", spec)
    models.load_model.cache_clear()
    models.load_mapping.cache_clear()
    with gr.Blocks():
        model = gr.State("test-linear")
        target = gr.State([0.5, -1.0, 0.3, 2.0, 0.1])
        panel = landscape_panel.build_landscape_panel(model=model, target=target)
    assert panel.accordion.label == "Landscape" and panel.grid.value == 25
    assert panel.inputs[:2] == [model, target] and panel.outputs == [panel.plot, panel.status, panel.state]
    updates = list(
        panel.compute(
            "test-linear", [0.5, -1.0, 0.3, 2.0, 0.1], None, 9, 2.0, "Surface", progress=lambda *args, **kwargs: None
        )
    )
    final = updates[-1]
    assert set(final[panel.state]) == {"x", "z"} and len(final[panel.state]["z"]["coords"]) == 9
    traces = final[panel.plot].data
    assert [trace.type for trace in traces] == ["surface", "scatter3d", "scatter3d", "surface", "scatter3d"]
    assert traces[2].name.startswith("Z→X (hand-off at step") and len(traces[2].x) == len(traces[1].x)
    assert "Z surface is" in final[panel.status] and "Z→X " in final[panel.status]
    assert "Roughness* has no unit" in final[panel.status]
    path = final[panel.state]["x"]["handoff_path"]
    assert len(path["trajectory"]) == len(final[panel.state]["x"]["trajectory"])
    models.load_model.cache_clear()
    models.load_mapping.cache_clear()
    with pytest.raises(gr.Error, match="target"):
        next(panel.compute("test-linear", None, None, 9, 2.0, "Surface", progress=lambda *a, **k: None))
    updates = panel.compute("test-linear", [1.0, 2.0], None, 9, 2.0, "Surface", progress=lambda *a, **k: None)
    with pytest.raises(gr.Error, match="Cannot use this target"):
        list(updates)


def test_status_counts_minima_in_plain_english():
    from app.tabs.landscape import status_text

    def surface(minima: int, roughness: float) -> dict:
        score = {"roughness": roughness, "laplacian": 0.1, "local_minima": minima}
        return {"coords": [0.0] * 5, "radius": 1.0, "reach": 1.0, "smoothness": score, "seconds": 0.1}

    text = status_text({"x": surface(1, 0.5), "z": surface(3, 0.1)}, "")
    assert "1 local minimum," in text and "3 local minima," in text and "Z surface is smoother" in text


def test_the_handoff_sentence_says_when_the_path_never_reaches_the_handoff():
    from app.tabs import landscape as landscape_panel

    surface = {"handoff_path": {"trajectory_losses": [1.0, 0.5, 0.4]}, "trajectory_losses": [1.0, 0.6, 0.45]}
    assert "stays in Z-space along this 2-step path" in landscape_panel.handoff_text({**surface, "handoff": 20})
    text = landscape_panel.handoff_text({**surface, "handoff": 1})
    assert text.startswith("Z→X (Z-space for 1 steps, then X-space) ends at loss 0.4")
