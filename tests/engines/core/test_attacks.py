import pytest
import torch

from engines.core.attacks import AttackConfig, StraightThrough, accuracy, bpda, pgd
from tests.engines.tiny_classifier import bar_images, trained_tiny_classifier


@pytest.mark.parametrize(
    "config",
    [
        AttackConfig(norm="linf", epsilon=0.3, steps=10, step_size=0.05),
        AttackConfig(norm="l2", epsilon=6.0, steps=10, step_size=1.0),
    ],
)
def test_pgd_lowers_the_accuracy_of_a_trained_model_within_budget(config):
    net = trained_tiny_classifier()
    images, labels = bar_images(32, seed=5)
    assert accuracy(net, images, labels) > 0.9
    adversarial = pgd(net, images, labels, config, seed=0)
    assert accuracy(net, adversarial, labels) < accuracy(net, images, labels) - 0.3
    change = (adversarial - images).flatten(1)
    size = change.abs().amax(1) if config.norm == "linf" else change.norm(dim=1)
    assert (size <= config.epsilon + 1e-4).all()
    assert adversarial.min() >= 0 and adversarial.max() <= 1


def test_pgd_is_repeatable_with_a_seed():
    net = trained_tiny_classifier()
    images, labels = bar_images(8, seed=5)
    config = AttackConfig(norm="linf", epsilon=0.2, steps=3, step_size=0.05)
    assert torch.equal(pgd(net, images, labels, config, seed=3), pgd(net, images, labels, config, seed=3))


def test_bpda_through_the_identity_defense_is_pgd():
    net = trained_tiny_classifier()
    images, labels = bar_images(8, seed=5)
    config = AttackConfig(norm="linf", epsilon=0.2, steps=3, step_size=0.05)
    through = bpda(net, lambda x: x.clone(), images, labels, config, seed=1)
    assert torch.allclose(through, pgd(net, images, labels, config, seed=1), atol=1e-6)


def test_straight_through_passes_the_classifier_gradient_at_the_defended_point():
    net = trained_tiny_classifier()
    images, _ = bar_images(2, seed=5)
    shifted = (images + 0.1).clamp(0, 1)
    wrapped = StraightThrough(net, lambda x: shifted)
    inputs = images.clone().requires_grad_(True)
    wrapped(inputs).sum().backward()
    direct = shifted.clone().requires_grad_(True)
    net(direct).sum().backward()
    assert torch.allclose(inputs.grad, direct.grad)


def test_attack_config_validates():
    with pytest.raises(ValueError, match="norm"):
        AttackConfig(norm="l1")


def test_roc_auc_is_the_chance_a_positive_scores_above_a_negative():
    from engines.core.attacks import roc_auc

    assert roc_auc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 1.0
    assert roc_auc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 0.0
    assert roc_auc(torch.tensor([1.0, 1.0]), torch.tensor([1.0])) == 0.5
    assert roc_auc(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 3.0])) == 0.75
    with pytest.raises(ValueError, match="at least one"):
        roc_auc(torch.tensor([]), torch.tensor([1.0]))
