"""The image tab's Encoder pane: F(E(target)) in one forward pass beside X and Z."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest
import torch
from PIL import Image

from app.runs import encoder_result
from app.tabs.image import ImageTab, build_image_tab
from app.targets import build_target
from engines.core.losses import mse_loss
from engines.models.faces.encoder import EncoderConfig, FaceLatentEncoder
from engines.models.registry import ModelSpec, load_encoder, load_model, register_model
from tests.app.tabs.test_image_tab import MODEL, SIZE, _editor, _face, _tiny

WITH_ENCODER = "tiny_app_image_encoder"


def _encoder() -> FaceLatentEncoder:
    torch.manual_seed(3)
    return FaceLatentEncoder(EncoderConfig(latent_dim=8, image_size=SIZE, channels=(8, 16)))


register_model(
    ModelSpec(
        name=WITH_ENCODER, description="tiny model + encoder", output_kind="image", load=_tiny, load_encoder=_encoder
    )
)


@pytest.fixture(scope="module")
def tab() -> ImageTab:
    with gr.Blocks():
        return build_image_tab()


def _run(tab: ImageTab, model: str, preset: str = "none") -> list[dict]:
    request = SimpleNamespace(session_hash=f"encoder-{model}")
    return list(tab.run(_editor(_face()), preset, model, "adam", 3, 0.1, 0.1, "mse", request=request))


def test_encoder_result_is_one_forward_pass_with_the_masked_loss():
    target = build_target(_editor(_face()), "left half", SIZE)
    image, loss = encoder_result(target, WITH_ENCODER, "mse")
    forward, encoder = load_model(WITH_ENCODER), load_encoder(WITH_ENCODER)
    with torch.no_grad():
        expected = float(mse_loss(forward(encoder(target.image)), target.image, target.weight)[0])
    assert image.size == (SIZE, SIZE) and loss == pytest.approx(expected)
    assert encoder_result(target, MODEL, "mse") is None  # no encoder shipped for this model


def test_pane_shows_the_encoder_beside_x_and_z(tab):
    updates = [u for u in _run(tab, WITH_ENCODER) if tab.encoder_image in u]
    assert len(updates) == 1 and updates[0][tab.encoder_image]["visible"]
    with Image.open(updates[0][tab.encoder_image]["value"]) as image:  # a content-named PNG file
        assert image.size == (SIZE, SIZE)
    assert "one forward pass" in updates[0][tab.encoder_caption] and "loss" in updates[0][tab.encoder_caption]


def test_pane_is_hidden_for_models_without_an_encoder(tab):
    updates = [u for u in _run(tab, MODEL) if tab.encoder_image in u]
    assert len(updates) == 1 and not updates[0][tab.encoder_image]["visible"]
