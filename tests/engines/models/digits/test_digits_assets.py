"""The shipped digits assets: the generator draws the class it is given (as its own classifier reads it),
the manifest records the classifier's MNIST test accuracy, and Θ leads Z-space down on a drawn digit."""

from __future__ import annotations

import torch

from engines.core.optim import invert
from engines.io.checkpoint import read_manifest
from engines.models.registry import available_models, load_mapping, load_model


def test_shipped_digits_draw_the_class_the_classifier_reads():
    assert "digits" in available_models("image", conditional=True)
    model = load_model("digits")
    labels = torch.arange(10).repeat_interleave(10)
    with torch.no_grad():
        z = torch.randn(len(labels), model.input_dim, generator=torch.Generator().manual_seed(0))
        predicted = model.classifier(model.forward_conditional(z, model.class_embedding(labels))).argmax(1)
    assert (predicted == labels).float().mean() >= 0.9
    assert read_manifest()["digits_classifier"]["mnist_test_accuracy"] >= 0.98


def test_shipped_mapping_leads_z_space_down():
    model, mapping = load_model("digits"), load_mapping("digits")
    with torch.no_grad():
        z = torch.randn(1, model.input_dim, generator=torch.Generator().manual_seed(3))
        target = model.forward_conditional(z, model.class_embedding(torch.tensor([4])))
    steps = invert(model, target, mapping=mapping, lr=0.1, steps=20, keep_output=False)
    losses = [float(step.losses[0]) for step in steps]
    assert losses[-1] < 0.7 * losses[0]
