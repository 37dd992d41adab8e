"""The Projection tab's Edit row: after a run (and a Fine-tune) the edit follows the controls, one forward pass."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import torch

from app.edits import TUNED, EditSettings, edit_of
from app.projection_runs import Projected
from app.tabs.projection import ProjectionTab, build_tab
from tests.app.tabs.test_projection import _editor, _run


@pytest.fixture(scope="module")
def tab() -> ProjectionTab:
    with gr.Blocks():
        return build_tab()


def _edit(tab: ProjectionTab, state, session: str, target_class="keep", strength=1.0, moves=(0.0, 0.0, 0.0)) -> dict:
    return tab.edit_row.edit(
        _editor(), state, target_class, strength, *moves, request=SimpleNamespace(session_hash=session)
    )


def _array(value) -> np.ndarray:
    from PIL import Image

    return np.asarray(
        Image.open(value) if isinstance(value, str) else value.value if hasattr(value, "value") else value
    )


def test_edit_row_renders_after_a_run_and_follows_the_class(tab):
    row = tab.edit_row
    assert "Run a projection first" in str(_edit(tab, None, "edit")[row.status])
    state = _run(tab, _editor(), "edit", method="adam", transform=True)[-1][tab.projected]
    kept, other = _edit(tab, state, "edit"), _edit(tab, state, "edit", target_class="7")
    assert "rendered by G (one forward pass)" in str(other[row.status])
    assert kept[row.put_back] is not None and other[row.edited] is not None
    assert not np.array_equal(_array(kept[row.edited]), _array(other[row.edited]))
    bad = _edit(tab, state, "edit", moves=(0.5, 0.0, 0.0))  # the tiny model ships no directions
    assert "no direction" in str(bad[row.status])


def test_after_fine_tune_the_edit_uses_the_tuned_copy(tab):
    state = _run(tab, _editor(), "edit-tuned", method="adam")[-1][tab.projected]
    list(tab.fine_tune(_editor(), state, 3, request=SimpleNamespace(session_hash="edit-tuned")))
    update = _edit(tab, state, "edit-tuned", target_class="2", strength=0.5)
    assert "fine-tuned copy of G" in str(update[tab.edit_row.status])
    TUNED.forget("edit-tuned")
    assert "rendered by G (" in str(_edit(tab, state, "edit-tuned")[tab.edit_row.status])


def _centre_column(image: torch.Tensor) -> float:
    weight = ((image[0].mean(0) + 1) / 2).clamp_min(0)
    return float((weight * torch.arange(image.shape[-1], dtype=torch.float32)).sum() / weight.sum())


def test_shipped_digit_directions_shift_the_put_back_digit_and_keep_the_outside():
    from engines.models.registry import available_models, load_model

    if "digits" not in available_models("image"):
        pytest.skip("the digits assets are not present")
    generator = load_model("digits")
    z = torch.randn(1, generator.input_dim, generator=torch.Generator().manual_seed(3))
    c = generator.class_embedding(torch.tensor([4])).detach()
    phi = torch.tensor([[0.6, 0.6, 0.2, 0.1, 1.0]])  # G's frame covers part of the target
    target = -torch.ones(1, 3, 28, 28)
    target[..., 25:, :3] = 0.5  # a mark outside that frame
    projected = Projected(model="digits", space="x", z=z[0].tolist(), class_embedding=c[0].tolist(), transform=phi[0].tolist())  # fmt: skip
    still = edit_of(target, None, projected, EditSettings())
    right = edit_of(target, None, projected, EditSettings(amounts=(("shift_x", 1.0),)))
    left = edit_of(target, None, projected, EditSettings(amounts=(("shift_x", -1.0),)))
    assert _centre_column(right.put_back) > _centre_column(still.put_back) + 0.5
    assert _centre_column(left.put_back) < _centre_column(still.put_back) - 0.5
    assert torch.equal(right.put_back[..., 25:, :3], target[..., 25:, :3])
    seven = edit_of(target, None, projected, EditSettings(target_class=7))
    assert int(generator.classifier(seven.output).argmax()) == 7


def test_api_edit_projects_tunes_edits_and_puts_back_in_one_call(tmp_path):
    from PIL import Image

    from app.api_runs import edit_image
    from tests.app.tabs.test_projection import MODEL

    digit = np.zeros((28, 28, 3), np.uint8)
    digit[8:20, 12:16] = 200
    path = tmp_path / "digit.png"
    Image.fromarray(digit).save(path)
    settings = dict(model=MODEL, method="adam", space="x", budget=48, population=4, target_class=2, fine_tune_steps=2)
    (edited, put_back), numbers = edit_image(str(path), **settings)
    assert edited.size[0] >= 28 and put_back.size == edited.size
    assert numbers["target_class"] == 2 and numbers["fine_tune_steps"] == 2
    with pytest.raises(ValueError, match="space"):
        edit_image(str(path), **{**settings, "space": "both"})
