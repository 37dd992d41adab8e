"""digits: the conditional interface on a tiny random model, checkpoints round-trip, the trainers
learn on a few synthetic digits, registration lists it as conditional, and the shipped assets load."""

from __future__ import annotations

import numpy as np
import torch

from engines.models.digits.model import (
    DigitsClassifier,
    DigitsConfig,
    DigitsGenerator,
    load_digits,
    load_digits_classifier,
    save_digits_classifier,
    save_digits_net,
)
from engines.models.digits.training import (
    DigitsGANConfig,
    classifier_accuracy,
    load_mnist,
    train_digits_classifier,
    train_digits_gan,
)
from engines.models.registry import available_models, get_spec

TINY = DigitsConfig(latent_dim=8, embedding_dim=4, channels=(8, 4, 4))


def tiny_model() -> DigitsGenerator:
    torch.manual_seed(0)
    return DigitsGenerator(TINY, DigitsClassifier(width=4)).eval()


def bars(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic two-class 'digits': a vertical bar (class 0) or a horizontal bar (class 1), ``N x 1 x 28 x 28``."""
    images = -torch.ones(count, 1, 28, 28)
    labels = torch.arange(count) % 2
    images[labels == 0, :, 4:24, 12:16] = 1
    images[labels == 1, :, 12:16, 4:24] = 1
    return images, labels


def test_conditional_interface_shapes_and_defaults():
    model = tiny_model()
    assert model.conditional and model.input_dim == 8 and model.embedding_dim == 4 and model.num_classes == 10
    z = torch.randn(5, 8)
    c = model.class_embedding(torch.tensor([0, 1, 2, 3, 9]))
    images = model.forward_conditional(z, c)
    assert images.shape == (5, 3, 28, 28) and images.abs().max() <= 1
    assert torch.equal(images[:, 0], images[:, 2])  # grey shown on three channels
    mean = model.mean_embedding().expand(5, -1)
    assert torch.allclose(model(z), model.forward_conditional(z, mean))
    assert model.classifier(images).shape == (5, 10)


def test_class_embedding_changes_the_image_and_carries_gradient():
    model = tiny_model()
    z = torch.randn(2, 8)
    c = model.class_embedding(torch.tensor([3, 3])).detach().requires_grad_(True)
    other = model.forward_conditional(z, model.class_embedding(torch.tensor([7, 7])))
    images = model.forward_conditional(z, c)
    assert not torch.allclose(images, other)
    images.sum().backward()
    assert c.grad is not None and c.grad.abs().sum() > 0


def test_checkpoints_round_trip(tmp_path):
    model = tiny_model()
    save_digits_net(tmp_path / "g.safetensors", model.net, TINY, {"epoch": 1})
    save_digits_classifier(tmp_path / "c.safetensors", model.classifier, {})
    loaded = load_digits(tmp_path / "g.safetensors", tmp_path / "c.safetensors").eval()
    z = torch.randn(3, 8)
    assert torch.equal(loaded(z), model(z))
    images = torch.rand(3, 3, 28, 28) * 2 - 1
    assert torch.equal(load_digits_classifier(tmp_path / "c.safetensors")(images), model.classifier(images))


def test_classifier_learns_two_synthetic_classes():
    images, labels = bars(256)
    for record in train_digits_classifier(images, labels, epochs=2, batch_size=32, seed=0):
        pass
    assert classifier_accuracy(record["classifier"], images, labels) == 1.0


def test_gan_training_runs_and_moves_the_generator():
    images, labels = bars(64)
    torch.manual_seed(0)
    records = list(train_digits_gan(images, labels, TINY, DigitsGANConfig(epochs=2, batch_size=16, seed=0)))
    assert [record["epoch"] for record in records] == [1, 2]
    assert all(np.isfinite(record["d_loss"]) and np.isfinite(record["g_loss"]) for record in records)


def test_load_mnist_reads_npz(tmp_path):
    path = tmp_path / "mnist.npz"
    digits = np.zeros((3, 28, 28), np.uint8)
    digits[1] = 255
    np.savez(path, x_train=digits, y_train=np.array([4, 5, 6]), x_test=digits[:1], y_test=np.array([1]))
    images, labels = load_mnist(path, "train")
    assert images.shape == (3, 1, 28, 28) and labels.tolist() == [4, 5, 6]
    assert images[0].max() == -1 and images[1].min() == 1


def test_registered_as_conditional():
    spec = get_spec("digits")
    assert spec.conditional and spec.output_kind == "image"
    if spec.available():
        assert "digits" in available_models("image", conditional=True)
        assert "digits" not in available_models("image", conditional=False)
    assert "digits" not in available_models("pose")
