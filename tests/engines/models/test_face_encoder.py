"""The feed-forward encoder baseline: shapes, training on a tiny generator, checkpoints, the bench's figure."""

from __future__ import annotations

import json

import pytest
import torch

from engines.bench import cli as bench
from engines.core.losses import mse_loss
from engines.core.mapping import MappingConfig, MappingNetwork
from engines.models.faces.encoder import (
    EncoderConfig,
    EncoderTrainConfig,
    FaceLatentEncoder,
    load_face_encoder,
    save_encoder,
    train_encoder,
)
from engines.models.registry import ModelSpec, load_encoder, load_mapping, load_model, register_model
from engines.train import cli as train_cli
from tests.engines.bench.test_cli import TinyFaces, image_folder  # noqa: F401 (fixture)

TINY = EncoderConfig(latent_dim=8, image_size=8, channels=(8, 16))


def test_encoder_maps_images_to_generator_inputs():
    encoder = FaceLatentEncoder(TINY)
    assert encoder(torch.zeros(5, 3, 8, 8)).shape == (5, 8)
    with pytest.raises(ValueError, match="divisible"):
        EncoderConfig(image_size=12, channels=(8, 16, 32))


def test_training_lowers_the_reconstruction_loss(tiny_model):
    torch.manual_seed(0)
    with torch.no_grad():
        images = tiny_model(torch.randn(64, 8))
    encoder = FaceLatentEncoder(TINY)
    config = EncoderTrainConfig(epochs=20, batch_size=16, lr=1e-2, loss="mse")
    with torch.no_grad():
        before = float(mse_loss(tiny_model(encoder(images)), images).mean())
    records = list(train_encoder(tiny_model, images, encoder, config, mse_loss))
    assert [record["epoch"] for record in records] == list(range(1, 21))
    with torch.no_grad():
        after = float(mse_loss(tiny_model(encoder(images)), images).mean())
    assert after < 0.3 * before and not encoder.training
    assert not any(parameter.requires_grad for parameter in tiny_model.parameters())


def test_checkpoint_round_trips(tmp_path):
    torch.manual_seed(0)
    encoder = FaceLatentEncoder(TINY).eval()
    path = tmp_path / "encoder.safetensors"
    save_encoder(path, encoder, {"model": "tiny"})
    loaded = load_face_encoder(path)
    images = torch.rand(3, 3, 8, 8) * 2 - 1
    assert loaded.config == TINY and torch.equal(loaded(images), encoder(images))
    with pytest.raises(FileNotFoundError):
        load_face_encoder(tmp_path / "missing.safetensors")


@pytest.fixture(scope="module")
def tiny_with_encoder():
    def load():
        torch.manual_seed(0)
        return TinyFaces()

    def load_theta():
        torch.manual_seed(1)
        return MappingNetwork(MappingConfig(z_dim=8, x_dim=8, hidden=16))

    def load_tiny_encoder():
        torch.manual_seed(2)
        return FaceLatentEncoder(TINY)

    spec = ModelSpec(
        name="tiny-encoder-test",
        description="test",
        output_kind="image",
        load=load,
        load_mapping=load_theta,
        load_encoder=load_tiny_encoder,
    )
    register_model(spec)
    yield spec.name
    for cached in (load_model, load_mapping, load_encoder):
        cached.cache_clear()


def test_inversion_bench_reports_the_encoder_loss(tiny_with_encoder, image_folder, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "out.json"
    arguments = ["inversion", "--model", tiny_with_encoder, "--data", str(image_folder), "--n", "3", "--steps", "5"]
    bench.main([*arguments, "--loss", "mse", "--json", str(out)])
    result = json.loads(out.read_text())
    forward, encoder = load_model(tiny_with_encoder), load_encoder(tiny_with_encoder)
    targets = torch.stack([forward.prepare_target(path)[0] for path in sorted(image_folder.glob("*.*"))[:3]])
    assert isinstance(result["encoder_loss"], float) and result["encoder_loss"] > 0
    assert "encoder (one forward pass)" in capsys.readouterr().out
    with torch.no_grad():
        expected = float(mse_loss(forward(encoder(targets)), targets).mean())
    assert result["encoder_loss"] == pytest.approx(expected, rel=1e-5)


def test_models_without_an_encoder_are_a_clear_error(tiny_with_encoder):
    register_model(ModelSpec(name="tiny-no-encoder", description="t", output_kind="image", load=TinyFaces))
    with pytest.raises(ValueError, match="no feed-forward encoder"):
        load_encoder("tiny-no-encoder")


def test_training_command_is_registered():
    args = train_cli.build_parser().parse_args(["encoder", "--epochs", "1", "--limit", "64"])
    assert args.epochs == 1 and args.limit == 64 and args.loss == "mse+lpips" and callable(args.run)
