"""BigGAN from a local folder: a tiny random config in the package's file layout, the conditional interface
against the package's own forward, listing only when present, and files that run code refused."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from pytorch_pretrained_biggan import BigGAN, BigGANConfig

from engines.models.biggan.model import WEIGHTS_ENV, BigGANForward, biggan_available, load_biggan, read_biggan
from engines.models.registry import available_models, get_spec

TINY_CONFIG = {
    "output_dim": 16,
    "z_dim": 8,
    "class_embed_dim": 8,
    "channel_width": 4,
    "num_classes": 5,
    "layers": [[True, 16, 8], [False, 8, 4], [True, 4, 2], [False, 2, 1]],
    "attention_layer_position": 2,
    "eps": 1e-4,
    "n_stats": 51,
}


def tiny_folder(folder):
    """Write config.json + pytorch_model.bin of a random tiny BigGAN into ``folder``; returns the network."""
    torch.manual_seed(0)
    config = BigGANConfig.from_dict({**TINY_CONFIG, "layers": [tuple(layer) for layer in TINY_CONFIG["layers"]]})
    biggan = BigGAN(config).eval()
    with torch.no_grad():
        for name, buffer in biggan.named_buffers():
            if name.endswith("running_vars"):
                buffer.uniform_(0.5, 1.5)
        biggan.generator.bn.weight.fill_(1.0)  # the package leaves these uninitialised (torch.Tensor(n))
        biggan.generator.bn.bias.zero_()
    (folder / "config.json").write_text(json.dumps(TINY_CONFIG))
    torch.save(biggan.state_dict(), folder / "pytorch_model.bin")
    return biggan


def test_loads_from_folder_and_matches_the_package_forward(tmp_path, monkeypatch):
    reference = tiny_folder(tmp_path)
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    assert biggan_available()
    model = load_biggan().eval()
    assert model.conditional and model.input_dim == 8 and model.embedding_dim == 8 and model.num_classes == 5
    assert model.output_shape == (3, 16, 16)
    z, labels = torch.randn(3, 8, generator=torch.Generator().manual_seed(1)) * 0.5, torch.tensor([0, 2, 4])
    with torch.no_grad():
        ours = model.forward_conditional(z, model.class_embedding(labels))
        theirs = reference(z, torch.nn.functional.one_hot(labels, 5).float(), 1.0)
        mean = model(z)
    assert ours.shape == (3, 3, 16, 16) and torch.allclose(ours, theirs, atol=1e-5)
    assert torch.allclose(mean, model.forward_conditional(z, model.mean_embedding().expand(3, -1)))
    assert model.classifier is None  # no classifier ships with BigGAN: the class is given


def test_class_embedding_is_the_embeddings_layer_on_one_hot(tmp_path):
    reference = tiny_folder(tmp_path)
    model = BigGANForward(read_biggan(tmp_path))
    assert torch.allclose(model.class_embedding(torch.tensor([3])), reference.embeddings.weight[:, 3][None])


def test_listed_only_when_present(tmp_path, monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    assert get_spec("biggan").conditional
    assert not biggan_available() and "biggan" not in available_models("image")
    with pytest.raises(FileNotFoundError, match=WEIGHTS_ENV):
        load_biggan()
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_biggan()
    tiny_folder(tmp_path)
    assert "biggan" in available_models("image", conditional=True)


class RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_weights_file_that_runs_code_is_refused(tmp_path):
    tiny_folder(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(pickle.dumps(RunsCode()))
    with pytest.raises(ValueError, match="weights-only"):
        read_biggan(tmp_path)


def test_projection_runs_on_it_with_a_given_class(tmp_path):
    from engines.core.projection import ProjectionConfig, project

    tiny_folder(tmp_path)
    model = BigGANForward(read_biggan(tmp_path)).eval().requires_grad_(False)
    target = torch.rand(1, 3, 16, 16) * 2 - 1
    config = ProjectionConfig(method="adam", budget=8, population=2, beta=0.0)
    steps = list(project(model, target, labels=torch.tensor([2]), config=config))
    result = steps[-1].result
    assert result.class_embedding.shape == (1, 2, 8) and result.output.shape == (1, 2, 3, 16, 16)
    assert result.evaluations == 8 and torch.isfinite(result.losses).all()
