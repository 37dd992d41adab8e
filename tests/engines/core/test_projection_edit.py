"""edit_projection(): class edits, latent moves, φ⁻¹ back into the target's frame, composite and Poisson put-back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engines.core.projection import ProjectionConfig, fine_tune, project
from engines.core.projection.edit import (
    edit_projection,
    edited_class_embedding,
    move_latent,
    poisson_blend,
    put_back,
)
from engines.core.transforms import invert_transform
from tests.engines.core.test_projection import TinyConditional


class Dot(nn.Module):
    """A bright 4×4 square on black whose position is x (``B x 2`` in [-1, 1]): ``B x 1 x 16 x 16``."""

    input_dim, output_shape = 2, (1, 16, 16)

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # a parameter, so the module has a device

    def forward(self, x):
        coords = torch.linspace(-1, 1, 16)
        inside_x = ((coords[None] - x[:, :1]).abs() < 0.25).float()
        inside_y = ((coords[None] - x[:, 1:2]).abs() < 0.25).float()
        return (inside_y[:, :, None] * inside_x[:, None, :])[:, None] * 2 - 1 + 0 * self.anchor


def test_class_embedding_blends_and_strength():
    table = torch.eye(3)
    c = torch.tensor([[1.0, 0.0, 0.0]])
    assert torch.equal(edited_class_embedding(table, c, target_class=2, strength=1.0), table[2:3])
    assert torch.equal(edited_class_embedding(table, c, target_class=2, strength=0.0), c)
    half = edited_class_embedding(table, c, target_class=1, strength=1.0, blend_class=2, blend=0.25)
    assert torch.allclose(half, torch.tensor([[0.0, 0.75, 0.25]]))
    assert torch.equal(edited_class_embedding(table, c, target_class=None), c)
    with pytest.raises(ValueError, match="not in"):
        edited_class_embedding(table, c, target_class=3)


def test_move_latent_adds_weighted_directions():
    x = torch.zeros(2, 3)
    directions = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    moved = move_latent(x, directions, [2.0, -1.0])
    assert torch.equal(moved, torch.tensor([[2.0, -1.0, 0.0]] * 2))
    assert torch.equal(move_latent(x, None, None), x)
    with pytest.raises(ValueError, match="amounts"):
        move_latent(x, directions, [1.0])


def test_class_edit_renders_the_new_class_and_keeps_outside_pixels():
    generator = TinyConditional()
    target = -torch.ones(1, 1, 8, 8)
    target[..., 5:, 5:] = 0.3  # something outside the region the edit may touch
    phi = torch.tensor([[0.5, 0.5, -0.5, -0.5, 1.0]])  # G's frame lands on the top-left quarter
    c = generator.class_embedding(torch.tensor([0]))
    result = edit_projection(generator, torch.zeros(1, 4), target, transform=phi, class_embedding=c, target_class=2)
    expected = generator.forward_conditional(torch.zeros(1, 4), generator.class_embedding(torch.tensor([2])))
    assert torch.allclose(result.output, expected)
    assert int(generator.classifier(result.output).argmax()) == 2
    assert torch.allclose(result.reprojected, invert_transform(expected, phi))
    region = result.region > 0.5
    assert region[..., :4, :4].all() and not region[..., 4:, :].any() and not region[..., :, 4:].any()
    assert torch.equal(result.put_back[~region.expand_as(target)], target[~region.expand_as(target)])
    assert not torch.equal(result.put_back, target)


def test_latent_move_and_inverse_transform_land_in_the_target_frame():
    generator = Dot()
    target = -torch.ones(1, 1, 16, 16)
    phi = torch.tensor([[0.5, 0.5, 0.5, 0.5, 1.0]])  # G's frame is the bottom-right quarter of the target
    right = torch.tensor([[1.0, 0.0]])
    moved = edit_projection(generator, torch.zeros(1, 2), target, transform=phi, directions=right, amounts=[0.5])
    still = edit_projection(generator, torch.zeros(1, 2), target, transform=phi)
    assert torch.equal(moved.x, torch.tensor([[0.5, 0.0]]))

    def centre(image):
        weight = (image[0, 0] + 1).clamp_min(0)
        rows, cols = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
        return float((weight * rows).sum() / weight.sum()), float((weight * cols).sum() / weight.sum())

    row, col = centre(still.put_back)
    assert 11 <= row <= 13 and 11 <= col <= 13  # the middle of the bottom-right quarter
    moved_row, moved_col = centre(moved.put_back)
    assert moved_col - col == pytest.approx(0.5 * 4 / 2 * 2, abs=0.6) and moved_row == pytest.approx(row, abs=0.3)


def test_edit_of_a_real_projection_with_a_fine_tuned_copy():
    generator = TinyConditional()
    true_c = generator.class_embedding(torch.tensor([1]))
    clean = generator.forward_conditional(torch.zeros(1, 4), true_c)
    phi_true = torch.tensor([[1.0, 1.0, 0.0, 0.0, 1.0]])
    target = invert_transform(clean, phi_true)
    config = ProjectionConfig(method="adam", budget=80, population=2, beta=0.0)
    result = list(project(generator, target, labels=torch.tensor([1]), config=config))[-1].result
    z, c = result.best("z"), result.best("class_embedding")
    tuned = list(fine_tune(generator, z, target, class_embedding=c, steps=5, lr=1e-2, anchor=0.0, beta=0.0))[-1]
    for model in (generator, tuned.generator):
        edit = edit_projection(model, z, target, transform=result.transform, class_embedding=c, target_class=0)
        assert int(generator.classifier(edit.output).argmax()) == 0
    unedited = edit_projection(generator, z, target, transform=result.transform, class_embedding=c)
    assert torch.allclose(unedited.reprojected, result.best("reprojected"), atol=1e-5)
    assert torch.equal(generator.prototypes, TinyConditional().prototypes)  # the shared G is untouched


def test_poisson_blend_changes_only_the_region_of_a_400_by_300_photo():
    rows, cols = np.mgrid[:300, :400]
    photo = np.stack([(cols * 0.5) % 256, (rows * 0.7) % 256, (rows + cols) % 256], -1).astype(np.uint8)
    source = photo.copy()
    source[120:150, 180:220] = (250, 20, 20)
    region = np.zeros((300, 400), dtype=bool)
    region[100:180, 150:260] = True
    blended = poisson_blend(source, photo, region)
    changed = np.abs(blended.astype(int) - photo).sum(-1) > 0
    assert changed.any() and not changed[~region].any()
    assert (np.abs(blended.astype(int) - photo).sum(-1) > 60)[120:150, 180:220].mean() > 0.9  # the patch is there
    assert np.abs(poisson_blend(photo, photo, region).astype(int) - photo).max() <= 1  # a copy changes nothing


def test_put_back_poisson_on_tensors_keeps_outside_exact():
    generator = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 24, 24, generator=generator) * 2 - 1
    edit = torch.rand(2, 3, 24, 24, generator=generator) * 2 - 1
    region = torch.zeros(2, 1, 24, 24)
    region[:, :, 6:18, 4:20] = 1
    out = put_back(edit, target, region, blend="poisson")
    outside = (region < 0.5).expand_as(target)
    assert torch.equal(out[outside], target[outside]) and not torch.equal(out, target)
    with pytest.raises(ValueError, match="blend"):
        put_back(edit, target, region, blend="median")


def test_a_crop_goes_back_into_a_400_by_300_photo_only_inside_its_region():
    from engines.core.projection.edit import put_back_into_photo
    from engines.models.faces.align import crop_to_photo

    rows, cols = np.mgrid[:300, :400]
    photo = np.stack([(cols * 0.5) % 256, (rows * 0.7) % 256, (rows + cols) % 256], -1).astype(np.uint8)
    landmarks = np.array([[170.0, 120], [226, 120], [197, 155], [173, 180], [223, 180]])  # a face left of centre
    matrix = crop_to_photo((400, 300), landmarks)
    crop = torch.ones(3, 64, 64) * torch.tensor([0.9, -0.8, -0.8])[:, None, None]  # a red "edit"
    result, region = put_back_into_photo(photo, crop, matrix)
    assert result.shape == photo.shape and region.any()
    changed = np.abs(result.astype(int) - photo).sum(-1) > 0
    assert changed.any() and not changed[~region].any()
    rows_in, cols_in = np.nonzero(region)
    eye_row, eye_col = 120, 198  # between the eyes: inside the region
    assert region[eye_row, eye_col] and 140 < cols_in.mean() < 260 and 80 < rows_in.mean() < 220
    assert not region[:, :70].any() and not region[:, 330:].any() and region.mean() < 0.6  # the face, not the photo
    centre = crop_to_photo((400, 300), None)  # no face found: the centre square
    assert np.allclose(centre @ np.array([0, 0, 1.0]), [50, 0]) and np.allclose(
        centre @ np.array([64, 64, 1.0]), [350, 300]
    )
