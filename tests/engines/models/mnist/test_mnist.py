import dataclasses

import pytest
import torch

from engines.models.mnist.model import MnistNet, MnistNetConfig, attack_budget, load_classifier_file, save_classifier
from engines.models.mnist.training import ClassifierTrainConfig, train_classifier
from engines.models.registry import available_models, get_spec
from tests.engines.tiny_classifier import TINY_CONFIG, bar_images


def test_classifier_and_head_shapes_accept_flat_or_image_inputs():
    net = MnistNet(TINY_CONFIG)
    images = torch.rand(3, 1, 28, 28)
    assert net(images).shape == (3, 10)
    assert torch.equal(net(images), net(images.flatten(1)))
    assert net.embed(images).shape == (3, TINY_CONFIG.projection)


def test_checkpoint_round_trip(tmp_path):
    net = MnistNet(TINY_CONFIG)
    save_classifier(tmp_path / "tiny.safetensors", net, {"note": "test"})
    loaded = load_classifier_file(tmp_path / "tiny.safetensors")
    images = torch.rand(2, 1, 28, 28)
    assert loaded.config == TINY_CONFIG
    assert torch.equal(loaded(images), net(images))


@pytest.mark.parametrize("adversarial_steps", [0, 1])
def test_training_lowers_the_loss(adversarial_steps):
    images, labels = bar_images(64, seed=1)
    config = ClassifierTrainConfig(epochs=3, batch_size=32, lr=3e-3, adversarial_steps=adversarial_steps)
    records = list(train_classifier(images, labels, TINY_CONFIG, config))
    assert [record["epoch"] for record in records] == [1, 2, 3]
    assert records[-1]["loss"] < records[0]["loss"]


def test_both_classifiers_are_registered_with_budgets():
    available_models()
    for name in ("mnist-classifier", "mnist-classifier-robust"):
        assert get_spec(name).output_kind == "classifier"
        assert attack_budget(name, "pgd-l2").norm == "l2" and attack_budget(name, "bpda").norm == "linf"
    with pytest.raises(ValueError):
        MnistNetConfig(channels=(4,))


def test_defense_settings_take_the_choice_made_on_training_images_over_thetas_own(monkeypatch, tmp_path):
    import json

    import engines.models.mnist.model as model

    theta_meta = {"defense": {"weight": 0.03, "x_lr": 0.05, "z_lr": 0.5, "z_init_scale": 0.1}}
    monkeypatch.setattr(model, "_read_asset", lambda asset: ({}, theta_meta))
    monkeypatch.setattr(model, "ASSETS_DIR", tmp_path)
    assert model.defense_settings("mnist-classifier") == theta_meta["defense"]
    chosen = {"settings": {"x_lr": 0.1, "weight": 0.1}, "sweeps": {}}
    (tmp_path / "mnist_classifier_defense.json").write_text(json.dumps(chosen))
    settings = model.defense_settings("mnist-classifier")
    assert settings == {"weight": 0.1, "x_lr": 0.1, "z_lr": 0.5, "z_init_scale": 0.1}


def test_training_augmentations_are_read_back_from_a_classifiers_settings():
    from engines.core.contrastive import AugmentConfig
    from engines.models.mnist.model import training_augment

    assert training_augment({}) == AugmentConfig()
    config = ClassifierTrainConfig(augment_noise=0.2, augment_shift=0.05)
    assert training_augment({"train": dataclasses.asdict(config)}) == config.augment
    assert config.augment.noise == 0.2 and config.augment.max_shift == 0.05
