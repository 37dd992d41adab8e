"""The Projection tab's handlers, called directly (no browser) on a tiny random conditional digits model."""

from __future__ import annotations

import re
import threading
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from app.projection_runs import ProjectionSettings, stream_projection
from app.session import SESSIONS
from app.tabs.projection import ProjectionTab, build_tab, object_mask, projection_samples
from app.targets import EDIT_SCALE
from engines.models.digits.model import DigitsClassifier, DigitsConfig, DigitsGenerator
from engines.models.registry import ModelSpec, register_model
from tests.conftest import TinyImageModel

MODEL, PLAIN = "tiny_projection_digits", "tiny_projection_plain"


def _tiny_digits() -> DigitsGenerator:
    torch.manual_seed(0)
    return DigitsGenerator(DigitsConfig(latent_dim=8, embedding_dim=4, channels=(8, 4, 4)), DigitsClassifier(width=4))


def _tiny_plain() -> TinyImageModel:
    torch.manual_seed(0)
    return TinyImageModel(input_dim=8, size=28)


register_model(ModelSpec(name=MODEL, description="tiny", output_kind="image", load=_tiny_digits, conditional=True))
register_model(ModelSpec(name=PLAIN, description="tiny", output_kind="image", load=_tiny_plain))


@pytest.fixture(scope="module")
def tab() -> ProjectionTab:
    with gr.Blocks():
        return build_tab()


def _editor(painted: tuple[slice, slice] | None = None) -> dict:
    """A 28×28 'digit' enlarged as the editor holds it; ``painted`` marks the object in a layer."""
    small = np.zeros((28, 28, 3), np.uint8)
    small[8:20, 12:16] = 200
    background = np.asarray(Image.fromarray(small).resize((28 * EDIT_SCALE,) * 2, Image.Resampling.NEAREST).convert("RGBA"))  # fmt: skip
    layer = np.zeros_like(background)
    if painted is not None:
        layer[painted[0], painted[1]] = (0, 192, 255, 255)
    return {"background": background, "layers": [layer], "composite": background}


def _run(tab: ProjectionTab, editor, session: str, **settings) -> list[dict]:
    values = dict(model=MODEL, label="3", method="basincma", space="x", transform=False, budget=96, population=4)
    values |= settings
    request = SimpleNamespace(session_hash=session)
    return list(tab.run(editor, *values.values(), request=request))


def _statuses(tab: ProjectionTab, updates: list[dict]) -> list[str]:
    return [str(update[tab.status]) for update in updates if tab.status in update]


@pytest.mark.parametrize("method", ["adam", "lbfgs", "cma", "cma+adam", "basincma"])
def test_every_method_streams_and_ends_with_a_pasted_projection(tab, method):
    updates = _run(tab, _editor(), f"method-{method}", method=method)
    assert not updates[0][tab.run_button]["interactive"] and updates[0][tab.stop_button]["interactive"]
    assert sum(tab.best in update for update in updates) >= 2
    assert "Done" in _statuses(tab, updates)[-1] and "forward passes" in _statuses(tab, updates)[-1]
    pasted = [update[tab.pasted] for update in updates if update.get(tab.pasted) is not None]
    assert pasted and Image.open(pasted[-1]).size == (168, 168)  # a content-named file: 28 px enlarged 6×
    last = updates[-1]
    assert last[tab.run_button]["interactive"] and not last[tab.stop_button]["interactive"]
    assert last[tab.fine_tune_button]["interactive"]
    assert last[tab.projected]["tuned"] == "x" and set(last[tab.projected]["spaces"]) == {"x"}
    state = last[tab.projected]["spaces"]["x"]
    assert len(state["z"]) == 8 and len(state["class_embedding"]) == 4 and len(state["transform"]) == 5
    assert not SESSIONS.is_running(f"method-{method}")


def test_population_gallery_and_transformed_target_stream(tab):
    updates = _run(tab, _editor((slice(20, 90), slice(40, 72))), "gallery", transform=True, budget=200)
    assert updates[0][tab.gallery] == [] and updates[0][tab.best]["value"] is None  # the last run's results are cleared
    galleries = [update[tab.gallery] for update in updates[1:] if tab.gallery in update]
    assert (
        galleries
        and len(galleries[0]) == 4
        and all(isinstance(caption, str) and Image.open(path).width > 0 for path, caption in galleries[0])
    )
    framed = [update[tab.framed] for update in updates if update.get(tab.framed) is not None]
    assert any(np.asarray(Image.open(path)).std() > 0 for path in framed)
    assert any("transform search" in status for status in _statuses(tab, updates))


def test_z_space_without_a_trained_mapping_says_so(tab):
    statuses = _statuses(tab, _run(tab, _editor(), "z-space", space="z", method="adam"))
    assert any("random, untrained Θ" in status for status in statuses)


def test_bad_inputs_become_messages_and_leave_controls_usable(tab):
    for editor, settings, expected in [
        (None, {}, "no target image"),
        (_editor(), {"budget": 4}, "budget"),
        (_editor(), {"population": 1}, "population"),
        (_editor(), {"model": "nope"}, "nope"),
        (_editor(), {"label": "10"}, "label"),
    ]:
        updates = _run(tab, editor, "bad", **settings)
        assert expected in _statuses(tab, updates)[-1] and "⚠" in _statuses(tab, updates)[-1]
        assert updates[-1][tab.run_button]["interactive"] and not updates[-1][tab.fine_tune_button]["interactive"]
        assert not SESSIONS.is_running("bad")


def test_stop_ends_the_run_and_a_second_run_is_refused_while_one_goes(tab):
    request = SimpleNamespace(session_hash="stop")
    values = (MODEL, "3", "adam", "x", False, 2000, 4)
    run = tab.run(_editor(), *values, request=request)
    next(run), next(run)
    second = list(tab.run(_editor(), *values, request=request))
    assert "already going" in _statuses(tab, second)[0]
    tab.stop(request)
    rest = list(run)
    assert "Stopped at" in _statuses(tab, rest)[-1] and rest[-1][tab.run_button]["interactive"]
    assert not SESSIONS.is_running("stop")


def test_fine_tune_streams_a_copy_and_leaves_the_shared_model(tab):
    from engines.models.registry import load_model

    state = _run(tab, _editor(), "tune", method="adam")[-1][tab.projected]
    before = [parameter.clone() for parameter in load_model(MODEL).parameters()]
    request = SimpleNamespace(session_hash="tune")
    updates = list(tab.fine_tune(_editor(), state, 5, request=request))
    assert any("step 4/5" in status for status in _statuses(tab, updates))
    assert any(update.get(tab.pasted) is not None for update in updates)
    assert (
        _statuses(tab, updates)[-1].startswith("Fine-tuned the X projection 5 steps: loss ")
        and updates[-1][tab.run_button]["interactive"]
    )
    assert all(torch.equal(a, b) for a, b in zip(before, load_model(MODEL).parameters()))
    refused = list(tab.fine_tune(_editor(), None, 5, request=request))
    assert "run a projection first" in _statuses(tab, refused)[-1]


def _figures(statuses: list[str]) -> tuple[list[float], float]:
    """The streamed best-so-far figures and the final one ("Done · ... l1+10*lpips 0.1234")."""
    running = [float(m.group(1)) for s in statuses if (m := re.search(r"best so far \S+ (\d+\.\d+) \(against the original", s))]  # fmt: skip
    final = re.search(r"^X: Done · \d+/\d+ forward passes · \S+ (\d+\.\d+)", statuses[-1])
    return running, float(final.group(1))


@pytest.mark.parametrize("method", ["adam", "basincma"])
def test_the_streamed_best_so_far_never_rises_and_ends_at_the_final_figure(tab, method):
    updates = _run(tab, _editor(), f"monotone-{method}", method=method, budget=200)
    running, final = _figures(_statuses(tab, updates))
    shown = [*running, final]  # the Done sentence's figure is the last one shown
    assert len(running) >= 5 and all(later <= earlier for earlier, later in zip(shown, shown[1:]))
    galleries = [update[tab.gallery] for update in updates if tab.gallery in update]
    last = [float(caption.split()[1]) for _, caption in galleries[-1]]
    assert len(galleries) >= 2 and min(last) == final  # the final members, captioned on the same scale


def test_with_the_transform_search_the_best_so_far_stays_on_the_original_frame(tab):
    updates = _run(tab, _editor((slice(20, 90), slice(40, 72))), "monotone-transform", method="cma", transform=True, budget=200)  # fmt: skip
    statuses = _statuses(tab, updates)
    running, final = _figures(statuses)
    assert any("transform search" in s for s in statuses) and any(s.startswith("X: cma ·") for s in statuses)
    assert len(running) >= 5 and all(later <= earlier for earlier, later in zip(running, running[1:]))
    # the search ranks in the transformed frame, so the final members may miss an earlier generation that
    # scored better here: then the Done sentence says so instead of the figure silently rising
    assert final <= running[-1] or f"an earlier generation reached {running[-1]:.4f}" in statuses[-1]


def test_fine_tune_ends_with_the_loss_before_and_after(tab):
    run = _run(tab, _editor(), "tune-numbers", method="adam")
    _, projected = _figures(_statuses(tab, run))
    request = SimpleNamespace(session_hash="tune-numbers")
    updates = list(tab.fine_tune(_editor(), run[-1][tab.projected], 20, request=request))
    sentence = _statuses(tab, updates)[-1]
    found = re.fullmatch(r"Fine-tuned the X projection 20 steps: loss (\d+\.\d+) → (\d+\.\d+) against the original target; kept the fine-tuned one \(\d+\.\d+ → \d+\.\d+ in the generator frame.*untouched\)", sentence)  # fmt: skip
    before, after = float(found.group(1)), float(found.group(2))
    assert abs(before - projected) <= 2e-4  # it starts where the projection ended, on the same scale
    assert after < before
    labels = [update[tab.best]["label"] for update in updates if isinstance(update.get(tab.best), dict) and "label" in update[tab.best]]  # fmt: skip
    assert labels[0].startswith("Fine-tuning · step") and labels[-1] == "Fine-tuned (20 steps): kept, it fits better"
    assert any("(generator frame)" in status for status in _statuses(tab, updates)[1:-1])


def test_the_tab_opens_on_the_first_sample_with_readable_names(tab):
    from app.tabs.projection import first_sample, sample_label

    assert sample_label("digit_7_mnist_test_06989") == "Digit 7 (MNIST test #6989)"
    assert sample_label("face_celeba_test_008123") == "Face (CelebA test #8123)"
    assert sample_label("other") == "other"
    labels = [label for label, _ in tab.sample.choices]
    assert labels and not any(label.endswith((".png",)) or "_" in label for label in labels)
    assert tab.sample.value == first_sample(tab.model.value) and tab.sample.value.startswith("digit_")
    assert tab.editor.value is not None and tab.sample.value in tab.notice.value
    assert tab.label.choices and tab.label.interactive and "classifier reads" in tab.label.label


def test_class_choices_preselect_the_classifier_reading(tab):
    from app.projection_runs import predicted_class
    from app.targets import build_target

    expected = predicted_class(MODEL, build_target(_editor(), "none", 28).image)
    update = tab.classes(_editor(), MODEL)[tab.label]
    assert update["choices"] == [str(k) for k in range(10)] and update["value"] == str(expected)
    assert f"reads {expected}" in update["label"]
    plain = tab.classes(_editor(), PLAIN)[tab.label]
    assert plain["choices"] == [] and not plain["interactive"]


def test_samples_load_with_a_class(tab):
    samples = projection_samples()
    assert any(name.startswith("digit_") for name in samples) and any(name.startswith("face_") for name in samples)
    update = tab.choose_sample(next(iter(samples)), MODEL)
    assert update[tab.editor]["background"].size == (28 * EDIT_SCALE,) * 2 and tab.label in update
    assert "⚠" in tab.upload_target(None, MODEL)[tab.notice]
    path = next(iter(samples.values()))
    uploaded = tab.upload_target(str(path), MODEL)  # the list reads "(your upload)", not an old sample's name
    assert uploaded[tab.sample]["value"] == "(your upload)" and tab.editor in uploaded
    assert "value" not in tab.choose_sample("(your upload)", MODEL)[tab.notice]


def test_object_mask_is_the_painted_box():
    weight = torch.ones(1, 1, 8, 8)
    assert object_mask(weight) is None
    weight[0, 0, 2, 3] = weight[0, 0, 5, 1] = 0
    mask = object_mask(weight)
    assert mask.sum() == 4 * 3 and mask[0, 0, 2:6, 1:4].min() == 1
    digit = -torch.ones(1, 3, 8, 8)
    digit[..., 1:3, 4:7] = 0.8
    assert object_mask(torch.ones(1, 1, 8, 8), digit)[0, 0].nonzero().tolist() == [[1, 4], [1, 5], [1, 6], [2, 4], [2, 5], [2, 6]]  # fmt: skip
    assert torch.equal(object_mask(weight, digit), mask)  # painting wins


def test_stream_projection_stops_before_the_first_step():
    stop = threading.Event()
    stop.set()
    settings = ProjectionSettings(model=MODEL, method="adam", budget=96, population=4)
    assert list(stream_projection(torch.zeros(1, 3, 28, 28), None, settings, stop)) == []


def test_the_class_is_read_inside_the_painted_box():
    from app.projection_runs import object_box, predicted_class
    from engines.core.transforms import apply_transform, params_from_mask

    model = _tiny_digits().eval()
    image = torch.rand(1, 3, 28, 28) * 2 - 1
    mask = torch.zeros(1, 1, 28, 28)
    mask[..., 3:15, 10:24] = 1
    phi = params_from_mask(mask, object_extent=0.75)
    phi[:, :2] = phi[:, :2].amax(dim=1, keepdim=True)
    framed = apply_transform(image, phi)
    framed = (framed - framed.amin()) / (framed.amax() - framed.amin()) * 2 - 1
    assert predicted_class(MODEL, image, mask) == int(model.classifier(framed).argmax(1))
    digit = -torch.ones(1, 3, 28, 28)
    digit[..., 4:10, 16:20] = 1
    box = object_box(digit)
    assert box.sum() == 6 * 4 and box[0, 0, 4:10, 16:20].min() == 1
    phi = params_from_mask(box, object_extent=0.75)
    phi[:, :2] = phi[:, :2].amax(dim=1, keepdim=True)
    assert predicted_class(MODEL, digit) == int(model.classifier(apply_transform(digit, phi)).argmax(1))
    assert object_box(-torch.ones(1, 3, 8, 8)) is None
    photo = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert object_box(photo) is None
    assert predicted_class(PLAIN, image) is None


def test_samples_and_the_generator_follow_each_other(tab):
    from app.tabs.projection import sample_generator
    from engines.models.registry import available_models

    if not {"digits", "faces64"} <= set(available_models("image")):
        pytest.fail("the digits and faces64 assets are missing from assets/")
    face = next(name for name in projection_samples() if name.startswith("face_"))
    digit = next(name for name in projection_samples() if name.startswith("digit_"))
    assert (sample_generator(face), sample_generator(digit), sample_generator("other")) == ("faces64", "digits", None)
    switched = tab.choose_sample(face, "digits")  # a face is never projected into a 28×28 "digit"
    assert switched[tab.model] == "faces64" and "switched from digits to **faces64**" in switched[tab.notice]
    assert switched[tab.editor]["background"].size == (64 * EDIT_SCALE,) * 2
    assert switched[tab.best] is None and switched[tab.projected] is None  # the old results are cleared
    assert tab.model not in tab.choose_sample(digit, "digits")  # a fitting sample keeps the generator
    followed = tab.follow_model("digits", face)  # the generator changed under a face: the sample follows
    assert followed[tab.sample] == digit and "follows the generator" in followed[tab.notice]
    assert "value" not in tab.follow_model("faces64", face)[tab.sample]


def test_x_and_z_run_side_by_side_with_the_frame_and_the_class_path(tab):
    updates = _run(tab, _editor((slice(20, 90), slice(40, 72))), "both", space=["x", "z"], transform=True, budget=200)
    for space in ("x", "z"):
        pane = tab.panes[space]
        assert sum(update.get(pane.best) is not None for update in updates) >= 2
        boxed = [update[pane.boxed] for update in updates if update.get(pane.boxed) is not None]
        assert boxed and np.asarray(Image.open(boxed[-1]).convert("RGB")).reshape(-1, 3).tolist().count([255, 200, 0]) > 0  # fmt: skip
        details = [str(update[pane.details]) for update in updates if update.get(pane.details)]
        assert re.search(
            r"frame x -?\d+–-?\d+, y -?\d+–-?\d+ px of 28 · zoom [\d.]+×[\d.]+ · shift .* brightness γ", details[-1]
        )
        assert re.search(r"Class search.* \d \(from \d+\)", details[-1])  # the tiny digits model is conditional
    final = _statuses(tab, updates)[-1]
    assert "X: Done" in final and "Z: Done" in final and re.search(r"Z ends .*X\.|level with X", final)
    state = updates[-1][tab.projected]
    assert set(state["spaces"]) == {"x", "z"} and state["tuned"] in ("x", "z")


def test_the_frame_box_is_where_the_transform_reads():
    from app.projection_runs import class_path_text, frame_box, transform_text

    assert frame_box((1.0, 1.0, 0.0, 0.0, 1.0), 28, 28) == (0.0, 0.0, 28.0, 28.0)
    assert frame_box((0.5, 0.25, 0.5, -0.5, 1.0), 40, 40) == (20.0, 5.0, 40.0, 15.0)
    assert "zoom 2.00×4.00" in transform_text((0.5, 0.25, 0.5, -0.5, 1.2), 40) and "γ 1.20" in transform_text((0.5, 0.25, 0.5, -0.5, 1.2), 40)  # fmt: skip
    assert class_path_text(((0, 3), (240, 7))) == "class 3 at the start, then class 7 after 240 forward passes"


def test_a_fine_tuning_that_fits_worse_gives_the_pane_back_its_projection(tab):
    from PIL import Image

    from app.projection_runs import TuningFrame
    from app.tabs.projection import _tuned

    before, after = Image.new("RGB", (8, 8), (10, 10, 10)), Image.new("RGB", (8, 8), (200, 200, 200))
    first = TuningFrame(0, 0.05, before, pasted=before, original_loss=0.0611)
    last = TuningFrame(20, 0.04, after, pasted=after, original_loss=0.0672)
    kept = tab._kept(tab.panes["x"], first, last)
    assert kept[tab.best]["label"] == "Before fine-tuning: kept, it fits better"
    assert Image.open(kept[tab.best]["value"]).getpixel((0, 0)) == (10, 10, 10)
    assert Image.open(kept[tab.pasted]).getpixel((0, 0)) == (10, 10, 10)
    assert "0.0611 → 0.0672 against the original target; kept the projection from before" in _tuned(first, last)
