import pytest
import torch

from engines.core.contrastive import ContrastiveLoss
from engines.core.defense import DefenseConfig, defend, repair, reversal_loss, reverse
from engines.core.mapping import IdentityMapping, MappingConfig, MappingNetwork
from tests.engines.tiny_classifier import bar_images, tiny_bank, trained_tiny_classifier


def contrastive_of(net, seed=0):
    return ContrastiveLoss(net.embed, views=2, seed=seed)


def test_reversal_steps_raise_agreement_of_the_views():
    """The X-space reversal lowers the contrastive loss (measured with the same fixed augmentations)."""
    net = trained_tiny_classifier()
    images, _ = bar_images(16, seed=2)
    attacked = (images + 0.3 * torch.randn(images.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    config = DefenseConfig(weight=0.0, x_lr=0.02)
    steps = list(reverse(contrastive_of(net, seed=1), attacked, config=config, steps=20))
    assert len(steps) == 21 and steps[-1].x.shape == (16, 784)
    judge = contrastive_of(net, seed=7)
    before = judge(attacked).mean()
    judge.reseed(7)
    after = judge(repair(attacked, steps[-1].x)).mean()
    assert after < before


def test_identity_mapping_makes_x_and_z_agree():
    net = trained_tiny_classifier()
    images, _ = bar_images(6, seed=3)
    config = DefenseConfig(weight=0.5, x_lr=0.05, z_lr=0.05, x_init_scale=0.0, z_init_scale=0.0)
    x_steps = list(reverse(contrastive_of(net), images, config=config, steps=4))
    z_steps = list(reverse(contrastive_of(net), images, mapping=IdentityMapping(784), config=config, steps=4))
    for x_step, z_step in zip(x_steps, z_steps):
        assert torch.allclose(x_step.x, z_step.x, atol=1e-6)
        assert torch.allclose(x_step.losses, z_step.losses, atol=1e-5)


def test_z_space_reversal_runs_through_a_mapping_and_defend_keeps_the_shape():
    net = trained_tiny_classifier()
    images, _ = bar_images(4, seed=3)
    mapping = MappingNetwork(MappingConfig(z_dim=784, x_dim=784, hidden=32, layers=3))
    repaired = defend(contrastive_of(net), images, mapping=mapping, steps=2)
    assert repaired.shape == images.shape
    assert repaired.min() >= 0 and repaired.max() <= 1
    assert torch.equal(defend(contrastive_of(net), images, steps=0), images)


def test_reversal_loss_adds_the_weighted_norm():
    net = trained_tiny_classifier()
    images, _ = bar_images(3, seed=4)
    reversal = torch.full((3, 784), 0.01)
    plain = reversal_loss(contrastive_of(net), 0.0)(reversal, images.flatten(1))
    weighted = reversal_loss(contrastive_of(net), 2.0)(reversal, images.flatten(1))
    assert torch.allclose(weighted - plain, torch.full((3,), 2.0 * 784 * 1e-4), atol=1e-4)


def test_defense_config_validates_and_round_trips():
    config = DefenseConfig(weight=0.3, x_lr=0.1)
    assert DefenseConfig.from_dict({**config.to_dict(), "unknown": 1}) == config
    with pytest.raises(ValueError):
        DefenseConfig(x_lr=0)


def test_algorithm_1_trains_theta_on_the_reversal_objective_from_random_starts():
    from engines.core.defense import ReversalForward
    from engines.core.trainer import TrainConfig, train_mapping

    net = trained_tiny_classifier()
    images, _ = bar_images(8, seed=6)
    mapping = MappingNetwork(MappingConfig(z_dim=784, x_dim=784, hidden=16, layers=3))
    config = TrainConfig(
        rounds=2, trajectories=4, steps=2, updates_per_round=2, batch_size=4, random_starts=True, start_scale=0.1
    )
    before = [parameter.clone() for parameter in mapping.parameters()]
    loss_fn = reversal_loss(contrastive_of(net), 0.1)
    stats = list(train_mapping(ReversalForward(784), images.flatten(1), mapping, config, loss_fn=loss_fn))
    assert len(stats) == 2 and all(torch.isfinite(torch.tensor(s.update_loss)) for s in stats)
    assert any(not torch.equal(a, b) for a, b in zip(before, mapping.parameters()))
    with pytest.raises(ValueError, match="start_scale"):
        TrainConfig(random_starts=True, start_scale=0.0)


@pytest.mark.parametrize("space", ["x", "z"])
def test_an_images_defense_does_not_depend_on_the_rest_of_the_batch(space):
    """With a negative bank, defending an image alone or among others (anywhere) gives the same result."""
    net = trained_tiny_classifier()
    images, _ = bar_images(8, seed=4)
    attacked = (images + 0.3 * torch.randn(images.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    torch.manual_seed(0)
    mapping = MappingNetwork(MappingConfig(z_dim=784, x_dim=784, hidden=32, layers=3)) if space == "z" else None
    config = DefenseConfig(weight=0.1, x_lr=0.05, z_lr=0.1)

    def defended(batch):
        return defend(
            ContrastiveLoss(net.embed, seed=5, bank=tiny_bank()), batch, mapping=mapping, config=config, steps=3
        )

    together = defended(attacked)
    alone = defended(attacked[5:6])
    others = defended(torch.cat([attacked[:1].flip(3), attacked[5:6]]))
    assert not torch.allclose(together[5:6], attacked[5:6])
    assert torch.allclose(alone, together[5:6], atol=1e-5)
    assert torch.allclose(others[1:], together[5:6], atol=1e-5)
