"""Loss landscapes: analytic surfaces of linear models, PCA, projection, batching, smoothness, figures."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from engines.core.landscape import (
    LandscapeConfig,
    collect,
    compute_surface,
    explore,
    principal_plane,
    smoothness,
)
from engines.core.mapping import IdentityMapping
from engines.models.registry import ForwardModel

torch.set_num_threads(1)


class LinearModel(ForwardModel):
    """F(x) = A x + b: with MSE the loss is a quadratic in x with a closed form on any plane."""

    output_kind = "pose"

    def __init__(self, input_dim: int = 6, output_dim: int = 5, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.input_dim = input_dim
        self.output_shape = (output_dim,)
        self.matrix = nn.Parameter(torch.randn(output_dim, input_dim, generator=generator), requires_grad=False)
        self.bias = nn.Parameter(torch.randn(output_dim, generator=generator), requires_grad=False)
        self.calls: list[int] = []

    def forward(self, x):
        self.calls.append(x.shape[0])
        return x @ self.matrix.T + self.bias

    def prepare_target(self, source):
        return torch.as_tensor(source, dtype=torch.float32), "as is"


class LinearMapping(nn.Module):
    """Θ(z) = W z + c, a linear mapping so Z-space losses stay analytic."""

    def __init__(self, z_dim: int, x_dim: int, seed: int = 1):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.z_dim = z_dim
        self.weight = torch.randn(x_dim, z_dim, generator=generator) / math.sqrt(z_dim)
        self.offset = torch.randn(x_dim, generator=generator)

    def forward(self, z):
        return z @ self.weight.T + self.offset


def analytic_plane_loss(matrix, bias, target, center, directions, coords):
    """mean((A(c + u d1 + v d2) + b - y)²) expanded: (|r|² + 2u r·a1 + 2v r·a2 + u²|a1|² + 2uv a1·a2 + v²|a2|²)/m."""
    residual = matrix @ center + bias - target
    a1, a2 = matrix @ directions[0], matrix @ directions[1]
    v, u = torch.meshgrid(coords, coords, indexing="ij")
    total = residual @ residual + 2 * u * (residual @ a1) + 2 * v * (residual @ a2)
    total = total + u**2 * (a1 @ a1) + 2 * u * v * (a1 @ a2) + v**2 * (a2 @ a2)
    return total / len(target)


@pytest.fixture
def linear_model():
    return LinearModel().eval()


@pytest.fixture
def linear_targets():
    return torch.randn(3, 5, generator=torch.Generator().manual_seed(2))


def run_explore(forward, targets, **options):
    reports = list(explore(forward, targets, **options))
    return reports, reports[-1].surface


def test_x_surface_matches_analytic_quadratic(linear_model, linear_targets):
    config = LandscapeConfig(grid=9, radius=1.5, steps=10)
    _, surface = run_explore(linear_model, linear_targets, index=1, config=config)
    expected = analytic_plane_loss(
        linear_model.matrix.double(),
        linear_model.bias.double(),
        linear_targets[1].double(),
        surface.center.double(),
        surface.plane.directions.double(),
        surface.coords.double(),
    )
    assert surface.space == "x" and surface.losses.shape == (9, 9)
    torch.testing.assert_close(surface.losses.double(), expected, rtol=1e-4, atol=1e-5)


def test_z_surface_matches_analytic_through_a_linear_mapping(linear_model, linear_targets):
    mapping = LinearMapping(z_dim=4, x_dim=6)
    config = LandscapeConfig(grid=7, radius=2.0, steps=8)
    _, surface = run_explore(linear_model, linear_targets, index=2, mapping=mapping, config=config)
    # x = W z + c, so F(Θ(z)) = (A W) z + (A c + b): again linear in z.
    matrix = (linear_model.matrix @ mapping.weight).double()
    bias = (linear_model.matrix @ mapping.offset + linear_model.bias).double()
    expected = analytic_plane_loss(
        matrix,
        bias,
        linear_targets[2].double(),
        surface.center.double(),
        surface.plane.directions.double(),
        surface.coords.double(),
    )
    assert surface.space == "z" and surface.center.shape == (4,)
    torch.testing.assert_close(surface.losses.double(), expected, rtol=1e-4, atol=1e-5)


def test_identity_mapping_gives_the_x_surface(tiny_model, tiny_targets):
    config = LandscapeConfig(grid=5, steps=5)
    _, x_surface = run_explore(tiny_model, tiny_targets, config=config)
    _, z_surface = run_explore(tiny_model, tiny_targets, mapping=IdentityMapping(tiny_model.input_dim), config=config)
    torch.testing.assert_close(z_surface.losses, x_surface.losses)
    torch.testing.assert_close(z_surface.trajectory, x_surface.trajectory)


def test_pca_recovers_known_directions_and_they_are_orthonormal():
    generator = torch.Generator().manual_seed(3)
    basis, _ = torch.linalg.qr(torch.randn(10, 10, generator=generator, dtype=torch.float64))
    scales = torch.tensor([5.0, 2.0] + [0.1] * 8, dtype=torch.float64)
    latents = (torch.randn(2000, 10, generator=generator, dtype=torch.float64) * scales) @ basis.T + 3.0
    plane = principal_plane(latents.float())
    torch.testing.assert_close(plane.directions @ plane.directions.T, torch.eye(2), atol=1e-5, rtol=0)
    assert abs(float(plane.directions[0].double() @ basis[:, 0])) > 0.999
    assert abs(float(plane.directions[1].double() @ basis[:, 1])) > 0.999
    assert plane.spread == pytest.approx(5.0, rel=0.05)
    assert float(plane.explained[0]) > float(plane.explained[1]) > 0


def test_pca_of_real_trajectories_is_orthonormal(tiny_model, tiny_targets):
    trajectories = collect(tiny_model, tiny_targets, config=LandscapeConfig(steps=6))
    assert trajectories.latents.shape == (4, 7, tiny_model.input_dim) and trajectories.losses.shape == (4, 7)
    plane = principal_plane(trajectories.latents)
    torch.testing.assert_close(plane.directions @ plane.directions.T, torch.eye(2), atol=1e-5, rtol=0)


def test_pca_rejects_unusable_latents():
    with pytest.raises(ValueError, match=">= 3 points"):
        principal_plane(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="do not move"):
        principal_plane(torch.ones(5, 4))


def test_trajectory_ends_at_grid_centre(tiny_model, tiny_targets):
    config = LandscapeConfig(grid=11, steps=12)
    _, surface = run_explore(tiny_model, tiny_targets, index=3, config=config)
    centre = config.grid // 2
    assert surface.trajectory.shape == (13, 2)
    torch.testing.assert_close(surface.trajectory[-1], torch.zeros(2))
    assert float(surface.coords[centre]) == pytest.approx(0.0, abs=1e-6)
    assert float(surface.losses[centre, centre]) == pytest.approx(float(surface.trajectory_plane_losses[-1]), rel=1e-5)
    assert float(surface.trajectory_plane_losses[-1]) == pytest.approx(float(surface.trajectory_losses[-1]), rel=1e-4)
    # The optimiser went downhill, so the start is off-centre and higher than the end.
    assert float(surface.trajectory[0].norm()) > 0
    assert float(surface.trajectory_losses[0]) > float(surface.trajectory_losses[-1])


def test_radius_is_relative_to_the_reach_of_the_paths(tiny_model, tiny_targets):
    config = LandscapeConfig(grid=5, radius=1.0, steps=6)
    _, single = run_explore(tiny_model, tiny_targets[:1], config=config)
    # One target: at radius 1 its own path touches the window's edge and stays inside.
    assert single.radius == pytest.approx(single.plane.reach)
    assert float(single.trajectory.abs().max()) == pytest.approx(single.radius, rel=1e-4)
    assert float(single.coords[-1]) == pytest.approx(single.radius, rel=1e-5)
    assert float(single.coords[0]) == pytest.approx(-single.radius, rel=1e-5)
    # Several targets: the reach is the farthest any path went, so every path fits.
    trajectories = collect(tiny_model, tiny_targets, config=config)
    plane = principal_plane(trajectories.latents)
    for index in range(len(tiny_targets)):
        surface = compute_surface(
            tiny_model,
            tiny_targets[index : index + 1],
            trajectories.latents[index],
            trajectories.losses[index],
            plane,
            config=LandscapeConfig(grid=5, radius=1.5, steps=6),
        )
        assert surface.radius == pytest.approx(1.5 * plane.reach)
        assert float(surface.trajectory.abs().max()) <= plane.reach * (1 + 1e-4)


def test_grid_is_evaluated_in_batched_chunks(linear_targets):
    results = {}
    for chunk in (8, 1000):
        model = LinearModel().eval()
        config = LandscapeConfig(grid=5, steps=3, chunk=chunk)
        trajectories = collect(model, linear_targets, config=config)
        plane = principal_plane(trajectories.latents)
        model.calls.clear()
        results[chunk] = compute_surface(
            model, linear_targets[:1], trajectories.latents[0], trajectories.losses[0], plane, config=config
        )
        points = 5 * 5 + 4  # grid points plus the projected trajectory
        assert model.calls == [min(chunk, points - start) for start in range(0, points, chunk)]
    torch.testing.assert_close(results[8].losses, results[1000].losses)


def test_progress_reports_cover_both_stages(tiny_model, tiny_targets):
    config = LandscapeConfig(grid=9, steps=4, chunk=30)
    reports, surface = run_explore(tiny_model, tiny_targets, config=config)
    optimise = [r for r in reports if r.stage == "optimise"]
    grid = [r for r in reports if r.stage == "grid"]
    assert [r.done for r in optimise] == [1, 2, 3, 4, 5] and optimise[0].total == 5
    assert [r.done for r in grid] == [1, 2, 3] and grid[-1].total == 3  # 81 + 5 points in chunks of 30
    assert surface is not None and all(r.surface is None for r in reports[:-1])


def test_masked_outputs_do_not_shape_the_surface(linear_model, linear_targets):
    weight = torch.tensor([[1.0, 1.0, 0.0, 1.0, 0.0]])
    changed = linear_targets.clone()
    changed[:, 2] += 5.0
    changed[:, 4] -= 3.0
    config = LandscapeConfig(grid=5, steps=5)
    _, original = run_explore(linear_model, linear_targets, weight=weight, config=config)
    _, altered = run_explore(linear_model, changed, weight=weight, config=config)
    torch.testing.assert_close(original.losses, altered.losses)
    _, unmasked = run_explore(linear_model, changed, config=config)
    assert not torch.allclose(unmasked.losses, original.losses)


def test_smoothness_of_known_surfaces():
    coords = torch.linspace(-1, 1, 25, dtype=torch.float64)
    v, u = torch.meshgrid(coords, coords, indexing="ij")
    bowl = smoothness(u**2 + v**2)
    assert bowl.laplacian == pytest.approx(8.0, rel=1e-6)  # Δ = 4 (2/24)² per cell, range 2, times 24²
    assert bowl.roughness == pytest.approx(0.0, abs=1e-6) and bowl.local_minima == 1
    slope = smoothness(2 * u - v)
    assert slope.roughness == pytest.approx(0.0, abs=1e-6) and slope.laplacian == pytest.approx(0.0, abs=1e-6)
    assert slope.local_minima == 0
    saddle = smoothness(u**2 - 3 * u * v)
    assert saddle.roughness == pytest.approx(0.0, abs=1e-6) and saddle.local_minima == 0
    two_wells = smoothness((u**2 - 0.25) ** 2 + v**2)  # minima at u = ±0.5
    assert two_wells.local_minima == 2 and two_wells.roughness > 0.5
    noise = 0.05 * torch.randn(25, 25, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    bumpy = smoothness(u**2 + v**2 + noise)
    assert bumpy.roughness > 5 * two_wells.roughness and bumpy.local_minima > 5
    assert bumpy.laplacian > 3 * bowl.laplacian
    coarse, fine = smoothness(two_wells_at(25)), smoothness(two_wells_at(49))
    assert coarse.roughness == pytest.approx(fine.roughness, rel=0.1)  # resolution-independent for smooth surfaces
    assert math.isnan(smoothness(torch.full((5, 5), float("nan"))).roughness)


def two_wells_at(points: int) -> torch.Tensor:
    coords = torch.linspace(-1, 1, points, dtype=torch.float64)
    v, u = torch.meshgrid(coords, coords, indexing="ij")
    return (u**2 - 0.25) ** 2 + v**2


def test_bad_settings_raise_clear_errors(tiny_model, tiny_targets):
    with pytest.raises(ValueError, match="grid"):
        LandscapeConfig(grid=2)
    with pytest.raises(ValueError, match="radius"):
        LandscapeConfig(radius=0)
    with pytest.raises(ValueError, match="index"):
        next(explore(tiny_model, tiny_targets, index=4))
    assert LandscapeConfig.from_dict(LandscapeConfig(grid=7).to_dict()) == LandscapeConfig(grid=7)


def plain_surfaces(forward, targets, mapping):
    config = LandscapeConfig(grid=7, steps=5)
    x_surface = run_explore(forward, targets, config=config)[1].to_plain()
    z_surface = run_explore(forward, targets, mapping=mapping, config=config)[1].to_plain()
    return x_surface, z_surface


def test_bench_reports_every_target_in_sorted_order(monkeypatch, tmp_path, tiny_model, capsys):
    import argparse

    import numpy as np
    from PIL import Image

    from engines.bench.landscape import run_landscape_bench
    from engines.core.mapping import MappingConfig, MappingNetwork
    from engines.io.images import prepare_image
    from engines.models import registry as models

    class TinyFaces(type(tiny_model)):
        def prepare_target(self, source):
            prepared = prepare_image(source, 8)
            return prepared.tensor, prepared.notice

    torch.manual_seed(0)
    forward = TinyFaces().eval().requires_grad_(False)
    mapping = MappingNetwork(MappingConfig(z_dim=8, x_dim=8, hidden=16)).eval().requires_grad_(False)
    spec = models.ModelSpec(
        name="test-tiny", description="", output_kind="image", load=lambda: forward, load_mapping=lambda: mapping
    )
    monkeypatch.setitem(models.MODELS, "test-tiny", spec)
    models.load_model.cache_clear()
    models.load_mapping.cache_clear()
    pixels = np.random.default_rng(0).integers(0, 255, size=(4, 12, 10, 3), dtype=np.uint8)
    for name, image in zip(["c.png", "a.png", "d.png", "b.png"], pixels):
        Image.fromarray(image).save(tmp_path / name)
    args = argparse.Namespace(model="test-tiny", data=tmp_path, n=3, grid=7, seed=0, json=None, radius=None, steps=5)
    result = run_landscape_bench(args)
    models.load_model.cache_clear()
    models.load_mapping.cache_clear()
    assert result["targets"] == ["a.png", "b.png", "c.png"]
    assert len(result["x_smoothness"]) == len(result["z_smoothness"]) == 3
    assert result["x_seconds_per_surface"] > 0 and result["z_seconds_per_surface"] > 0
    expected_share = sum(z < x for x, z in zip(result["x_smoothness"], result["z_smoothness"])) / 3
    assert result["z_smoother_share"] == pytest.approx(expected_share)
    printed = capsys.readouterr().out
    assert all(name in printed for name in result["targets"]) and "Z surface smoother" in printed


def test_handoff_path_with_identity_mapping_and_handoff_zero_is_the_x_path():
    """Z→X with Θ = identity hands off at once to X-space from x = 0: its path is X's own path on X's surface."""
    from engines.core.landscape import handoff_path

    class Identity(nn.Module):
        z_dim = 6

        def forward(self, z):
            return z

    forward, targets = LinearModel().eval(), torch.randn(2, 5, generator=torch.Generator().manual_seed(4))
    config = LandscapeConfig(grid=7, steps=5)
    surface = run_explore(forward, targets, config=config)[1]
    path = handoff_path(forward, targets[:1], surface, mapping=Identity(), handoff=0, config=config)
    assert path.trajectory.shape == (6, 2) and path.trajectory_losses.shape == (6,)
    assert torch.allclose(path.trajectory, surface.trajectory, atol=1e-5)
    assert torch.allclose(path.trajectory_losses, surface.trajectory_losses, atol=1e-5)  # what the optimiser saw
    on_plane = surface.center + path.trajectory @ surface.plane.directions  # the projected points, on the surface
    expected = ((forward(on_plane) - targets[:1]) ** 2).mean(dim=1)
    assert torch.allclose(path.trajectory_plane_losses, expected, atol=1e-4)
    later = handoff_path(forward, targets[:1], surface, mapping=LinearMapping(z_dim=4, x_dim=6), handoff=2, config=config)  # fmt: skip
    assert later.trajectory_losses[-1] < later.trajectory_losses[0]  # it still descends
    assert not torch.allclose(later.trajectory[-1], torch.zeros(2))  # and ends where it went, off the centre
    with pytest.raises(ValueError, match="X-space"):
        z_surface = run_explore(forward, targets, mapping=Identity(), config=config)[1]
        handoff_path(forward, targets[:1], z_surface, mapping=Identity(), handoff=0, config=config)
