"""The expressive last stage: the generator's tail as a forward model, and the Z→X → feature pipeline."""

from __future__ import annotations

import pytest
import torch

from engines.core.mapping import MappingConfig, MappingNetwork
from engines.io.images import prepare_image
from engines.models.faces.last_stage import (
    GeneratorTail,
    LastStage,
    ModulatedGenerator,
    fidelity_steps,
    last_stage_steps,
)
from engines.models.faces.model import FaceGenerator, FaceNetConfig
from engines.models.registry import load_mapping, load_model
from tests.conftest import REPO_ROOT


@pytest.fixture
def tiny_generator() -> FaceGenerator:
    torch.manual_seed(0)
    config = FaceNetConfig(latent_dim=8, image_size=16, channels=(16, 8, 4), norm="pixel")
    return FaceGenerator(config).eval().requires_grad_(False)


@pytest.mark.parametrize("layer", ["4x4", "8x8"])
def test_tail_of_head_is_the_generator(tiny_generator, layer):
    tail = GeneratorTail(tiny_generator, layer)
    latent = torch.randn(3, 8)
    assert tail.features(latent).shape == (3, tail.input_dim)
    torch.testing.assert_close(tail(tail.features(latent)), tiny_generator(latent), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("layer", "maps"), [("4x4", 3), ("8x8", 2)])
def test_zero_modulation_is_the_generator(tiny_generator, layer, maps):
    modulated = ModulatedGenerator(tiny_generator, layer)
    assert len(modulated.points) == maps  # the 4×4 map, then one per PixelNorm (8×8, 16×16)
    latent = torch.randn(3, 8)
    inputs = torch.cat([latent, torch.zeros(3, modulated.input_dim - 8)], dim=1)
    torch.testing.assert_close(modulated(inputs), tiny_generator(latent))
    inputs[:, 8] = 1.0  # the first channel of the first modulated map, doubled
    assert not torch.allclose(modulated(inputs), tiny_generator(latent))


def test_channel_mode_starts_at_z_to_x_and_improves(tiny_generator):
    torch.manual_seed(2)
    latent, targets = torch.randn(2, 8), torch.rand(2, 3, 16, 16) * 2 - 1
    last = LastStage(layer="4x4", lr=0.05, pull=0.01, mode="channels")
    steps = list(last_stage_steps(tiny_generator, targets, latent, last=last, steps=10, first_index=5, loss="mse"))
    assert [step.index for step in steps] == list(range(5, 16)) and steps[0].space == "feature"
    torch.testing.assert_close(steps[0].output, tiny_generator(latent))
    assert (steps[-1].losses < steps[0].losses).all()


def test_pipeline_steps_and_spaces(tiny_generator):
    torch.manual_seed(1)
    mapping = MappingNetwork(MappingConfig(z_dim=8, x_dim=8, hidden=16)).eval().requires_grad_(False)
    targets = torch.rand(2, 3, 16, 16) * 2 - 1
    last = LastStage(layer="8x8", share=0.5)
    steps = list(
        fidelity_steps(
            tiny_generator, mapping, targets, steps=20, handoff=3, z_lr=0.1, x_lr=0.05, last=last, loss="mse"
        )
    )
    assert [step.index for step in steps] == list(range(21))
    assert [step.space for step in steps[:4]] == ["z", "z", "z", "x"]
    assert {step.space for step in steps[10:]} == {"feature"}
    assert steps[20].losses.mean() < steps[10].losses.mean()  # the last stage improves on Z→X


def test_bad_settings_raise(tiny_generator):
    with pytest.raises(ValueError):
        LastStage(layer="3x3")
    with pytest.raises(ValueError):
        LastStage(share=1.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        LastStage(mode="pixels")
    assert LastStage(share=0.5).split(200) == (100, 100)


def test_last_stage_beats_z_to_x_on_real_faces():
    """On two bundled held-out faces, the last stage ends below Z→X given the same step budget."""
    generator, mapping = load_model("faces64"), load_mapping("faces64")
    paths = [REPO_ROOT / "app" / "samples" / f"face_{number}.png" for number in ("008003", "008042")]
    targets = torch.stack([prepare_image(path, 64).tensor for path in paths])
    options = dict(steps=30, handoff=5, z_lr=0.1, x_lr=0.05, loss="mse+lpips", keep_output=False)
    *_, zx_only = fidelity_steps(generator, mapping, targets, last=LastStage(share=0.0), **options)
    *_, final = fidelity_steps(generator, mapping, targets, **options)
    assert final.space == "feature"
    assert (final.losses < zx_only.losses).all()
