import pytest
import torch

from engines.core.contrastive import AugmentConfig, ContrastiveLoss, augment, bank_nt_xent, nt_xent


def test_nt_xent_prefers_the_true_views():
    generator = torch.Generator().manual_seed(0)
    anchors = torch.randn(16, 8, generator=generator)
    true_views = anchors + 0.1 * torch.randn(16, 8, generator=generator)
    shuffled = true_views[torch.randperm(16, generator=generator)]
    matched = nt_xent(torch.stack([anchors, true_views]))
    mismatched = nt_xent(torch.stack([anchors, shuffled]))
    assert matched.shape == (16,)
    assert matched.mean() < mismatched.mean() - 1.0


def test_nt_xent_needs_two_views():
    with pytest.raises(ValueError, match="at least 2 views"):
        nt_xent(torch.randn(1, 4, 8))


def test_augment_keeps_shape_and_passes_gradients():
    images = torch.rand(3, 1, 28, 28, requires_grad=True)
    views = augment(images, config=AugmentConfig(noise=0.05), generator=torch.Generator().manual_seed(0))
    assert views.shape == images.shape
    assert not torch.equal(views, images)
    views.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_contrastive_loss_prefers_views_of_one_image_over_views_of_two():
    """A head that embeds the image itself: views of the same image agree more than views of unrelated ones."""

    def embed(images):
        return images.flatten(1)

    loss = ContrastiveLoss(embed, views=2, augment_config=AugmentConfig(max_shift=0.02, max_rotation=0.02), seed=0)
    images = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    same = loss(images)
    loss.reseed(0)
    views = torch.stack([augment(images, config=loss.augment_config, generator=loss.generator) for _ in range(2)])
    swapped = torch.stack([views[0], views[1].roll(1, dims=0)])
    assert same.shape == (8,)
    assert same.mean() < nt_xent(swapped.flatten(2), loss.temperature).mean()


def test_bank_nt_xent_prefers_the_true_views_and_ignores_the_batch():
    generator = torch.Generator().manual_seed(0)
    anchors, bank = torch.randn(6, 16, generator=generator), torch.randn(20, 16, generator=generator)
    true_views = anchors + 0.1 * torch.randn(6, 16, generator=generator)
    matched = bank_nt_xent(torch.stack([anchors, true_views]), bank)
    mismatched = bank_nt_xent(torch.stack([anchors, true_views.roll(1, dims=0)]), bank)
    assert matched.shape == (6,) and (matched < mismatched).all()
    alone = bank_nt_xent(torch.stack([anchors[:1], true_views[:1]]), bank)
    assert torch.allclose(alone, matched[:1], atol=1e-6)


def test_shared_augment_gives_each_image_the_same_view_in_any_batch():
    images = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    config = AugmentConfig(noise=0.05)
    batch = augment(images, config=config, generator=torch.Generator().manual_seed(3), shared=True)
    alone = augment(images[2:3], config=config, generator=torch.Generator().manual_seed(3), shared=True)
    assert torch.allclose(batch[2:3], alone, atol=1e-6)


def flat_embed(images: torch.Tensor) -> torch.Tensor:
    return images.flatten(1)


def test_squeeze_agreement_sees_perturbations_that_squeezing_removes():
    from engines.core.contrastive import SqueezeAgreement, squeeze

    generator = torch.Generator().manual_seed(0)
    binary = (torch.rand(6, 1, 28, 28, generator=generator) > 0.7).float()
    perturbed = (binary + 0.2 * torch.randn(binary.shape, generator=generator)).clamp(0, 1)
    objective = SqueezeAgreement(flat_embed, temperature=0.1)
    assert torch.allclose(squeeze(binary, 0.1), binary, atol=0.01)
    clean, attacked = objective(binary), objective(perturbed)
    assert clean.shape == (6,) and clean.max() < 1e-3
    assert attacked.min() > 10 * clean.max()
    # each image's loss is its own (no batch statistics), flat input works, and gradients reach the pixels
    assert torch.allclose(objective(perturbed[2:3].flatten(1)), attacked[2:3], atol=1e-6)
    pixels = perturbed.clone().requires_grad_(True)
    objective(pixels).sum().backward()
    assert pixels.grad.abs().sum() > 0


def test_squeeze_agreement_rejects_a_non_positive_temperature():
    from engines.core.contrastive import SqueezeAgreement

    with pytest.raises(ValueError, match="temperature"):
        SqueezeAgreement(flat_embed, temperature=0)
