import json

import numpy as np
import pytest
import torch

import engines.models.mnist.model as mnist_model
from engines.bench.cli import main
from engines.core.mapping import MappingConfig, MappingNetwork
from engines.models import registry
from tests.engines.tiny_classifier import bar_images, tiny_bank, trained_tiny_classifier


@pytest.fixture
def tiny_registered(monkeypatch):
    """``mnist-classifier`` replaced by the tiny trained classifier and a small random Θ."""
    registry.available_models()  # import the real registrations first, then shadow one

    def tiny_mapping():
        torch.manual_seed(0)
        return MappingNetwork(MappingConfig(z_dim=784, x_dim=784, hidden=32, layers=3))

    spec = registry.ModelSpec(
        name="mnist-classifier",
        description="tiny",
        output_kind="classifier",
        load=trained_tiny_classifier,
        load_mapping=tiny_mapping,
    )
    monkeypatch.setitem(registry.MODELS, "mnist-classifier", spec)
    monkeypatch.setattr(mnist_model, "defense_settings", lambda name: {"weight": 0.1, "x_lr": 0.05, "z_lr": 0.1})
    monkeypatch.setattr(mnist_model, "load_negative_bank", lambda name: tiny_bank())
    registry.load_model.cache_clear()
    registry.load_mapping.cache_clear()
    yield
    registry.load_model.cache_clear()
    registry.load_mapping.cache_clear()


@pytest.fixture
def digits_file(tmp_path):
    images, labels = bar_images(12, seed=9)
    path = tmp_path / "digits.npz"
    np.savez(path, x_test=(images[:, 0] * 255).round().to(torch.uint8).numpy(), y_test=labels.numpy())
    return path


@pytest.mark.parametrize("attack", ["pgd-linf", "bpda"])
def test_defense_bench_writes_the_documented_json(tiny_registered, digits_file, tmp_path, capsys, attack):
    out = tmp_path / "out.json"
    argv = ["defense", "--model", "mnist-classifier", "--data", str(digits_file), "--n", "10"]
    main(argv + ["--attack", attack, "--defense-steps", "0,1,2", "--seed", "0", "--json", str(out)])
    result = json.loads(out.read_text())
    expected = {"model", "attack", "epsilon", "n", "clean_accuracy", "attacked_accuracy", "baseline_accuracy"}
    expected |= {"ours_accuracy", "clean_after_defense", "seconds_per_image"}
    assert expected <= set(result)
    assert result["model"] == "mnist-classifier" and result["attack"] == attack and result["n"] == 10
    for space in ("baseline", "ours"):
        accuracies = result[f"{space}_accuracy"]
        assert set(accuracies) == {"0", "1", "2"}
        assert all(0 <= value <= 1 for value in accuracies.values())
        assert 0 <= result["clean_after_defense"][space] <= 1 and result["seconds_per_image"][space] > 0
    if attack == "pgd-linf":  # one attack for both defenses: "0" (no defense) is the attacked accuracy
        assert result["baseline_accuracy"]["0"] == result["ours_accuracy"]["0"] == result["attacked_accuracy"]
    assert result["clean_accuracy"] > result["attacked_accuracy"]
    assert "baseline (X)" in capsys.readouterr().out
