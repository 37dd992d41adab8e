"""The image tab's handlers, called directly (no browser) on a tiny random model, for every bad input."""

from __future__ import annotations

import csv
import threading
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from app.runs import RunSettings, stream_run
from app.session import SESSIONS
from app.tabs.image import YOUR_UPLOAD, ImageTab, build_image_tab
from app.targets import EDIT_SCALE, build_target, load_target, preset_known
from engines.models.registry import ModelSpec, available_models, register_model
from tests.conftest import TinyImageModel

MODEL = "tiny_app_image"
SIZE = 8


def _tiny() -> TinyImageModel:
    torch.manual_seed(0)
    return TinyImageModel(input_dim=8, size=SIZE)


register_model(ModelSpec(name=MODEL, description="tiny random test model", output_kind="image", load=_tiny))


@pytest.fixture(scope="module")
def tab() -> ImageTab:
    with gr.Blocks():
        return build_image_tab()


def _editor(image: Image.Image, painted: np.ndarray | None = None) -> dict:
    """An editor value as Gradio hands it over: RGBA arrays, paint as alpha in a layer."""
    background = np.asarray(image.convert("RGBA"))
    layer = np.zeros_like(background)
    if painted is not None:
        layer[painted] = (255, 0, 255, 255)
    return {"background": background, "layers": [layer], "composite": background}


def _face(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8))
    return small.resize((SIZE * EDIT_SCALE,) * 2, Image.Resampling.NEAREST)


def _run(tab: ImageTab, editor: dict, session: str, **settings) -> list[dict]:
    values = dict(preset="none", optimizer="adam", steps=6, lr_x=0.1, lr_z=0.1, loss="mse", handoff=None) | settings
    request = SimpleNamespace(session_hash=session)
    return list(
        tab.run(editor, values["preset"], MODEL, values["optimizer"], values["steps"], values["lr_x"],
                values["lr_z"], values["loss"], values["handoff"], values.get("refine", False), request=request)
    )  # fmt: skip


def _statuses(tab: ImageTab, updates: list[dict]) -> list[str]:
    return [str(update[tab.status]) for update in updates if tab.status in update]


def _controls_usable(tab: ImageTab, update: dict) -> bool:
    return update[tab.run_button]["interactive"] and not update[tab.stop_button]["interactive"]


def test_run_streams_three_spaces_and_reenables_controls(tab):
    updates = _run(tab, _editor(_face()), "ok", steps=5)
    assert not updates[0][tab.run_button]["interactive"] and updates[0][tab.stop_button]["interactive"]
    captions = [(u[tab.x_caption], u[tab.z_caption], u[tab.zx_caption]) for u in updates if tab.x_caption in u]
    assert [c[0].split("step ")[1].split(" ")[0] for c in captions][:6] == ["0", "1", "2", "3", "4", "5"]
    assert all("Z-space" in z and "Z→X" in zx for _, z, zx in captions)
    assert "Done at step 5/5" in _statuses(tab, updates)[-1]
    assert _controls_usable(tab, updates[-1])
    assert not SESSIONS.is_running("ok")


def test_non_image_upload_gives_a_message(tab, tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image")
    update = tab.upload_target(str(path), MODEL)
    assert "value" not in update[tab.editor] and "not a readable image" in update[tab.notice]  # editor unchanged
    assert "no file" in tab.upload_target(None, MODEL)[tab.notice]


@pytest.mark.parametrize(
    ("mode", "size", "expected"),
    [("RGB", (1, 1), "almost no detail"), ("RGBA", (40, 30), "converted RGBA"), ("L", (20, 20), "converted L"),
     ("I;16", (24, 24), "converted I;16"), ("RGB", (8000, 8000), "downscaled")],
)  # fmt: skip
def test_odd_images_are_prepared_with_a_notice(tab, tmp_path, mode, size, expected):
    if mode == "I;16":
        ramp = np.linspace(0, 65535, size[0] * size[1]).reshape(size).astype(np.uint16)
        image = Image.fromarray(ramp)
        assert image.mode == "I;16"
    else:
        image = Image.new(mode, size, 200 if mode == "L" else (200, 100, 50, 128)[: len(mode)])
    path = tmp_path / "odd.png"
    image.save(path)
    update = tab.upload_target(str(path), MODEL)
    assert expected in update[tab.notice]
    background = update[tab.editor]["background"]
    assert background.mode == "RGB" and background.size == (SIZE * EDIT_SCALE,) * 2
    if mode == "I;16":  # 16-bit values are scaled, not clipped to white
        assert np.asarray(background).std() > 20
    updates = _run(tab, _editor(background), f"odd-{mode}", steps=2)
    assert "Done at step 2/2" in _statuses(tab, updates)[-1]


def test_all_masked_target_gives_a_message(tab):
    painted = np.ones((SIZE * EDIT_SCALE,) * 2, dtype=bool)
    updates = _run(tab, _editor(_face(), painted), "masked")
    assert "mask hides everything" in _statuses(tab, updates)[-1]
    assert _controls_usable(tab, updates[-1])
    centre = np.zeros_like(painted)
    centre[8:24, 8:24] = True  # the only known region of "keep centre", painted over
    updates = _run(tab, _editor(_face(), centre), "masked", preset="keep centre")
    assert "mask hides everything" in _statuses(tab, updates)[-1]


def test_no_target_gives_a_message(tab):
    updates = _run(tab, {"background": None, "layers": [], "composite": None}, "empty")
    assert "pick a sample or upload" in _statuses(tab, updates)[-1]


@pytest.mark.parametrize(
    "settings",
    [dict(steps=0), dict(lr_x=None), dict(lr_z=-1.0), dict(lr_x=float("nan")), dict(optimizer="rmsprop")],
)
def test_bad_settings_give_a_message(tab, settings):
    updates = _run(tab, _editor(_face()), "settings", **settings)
    assert _statuses(tab, updates)[-1].startswith("⚠")
    assert _controls_usable(tab, updates[-1])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_exploding_learning_rate_stops_with_a_message_and_no_nan_frame(tab, optimizer):
    target = build_target(_editor(_face()), "none", SIZE)
    settings = RunSettings(model=MODEL, optimizer=optimizer, steps=20, lr_x=1e30, lr_z=0.1)
    frames = list(stream_run(target, settings, threading.Event()))
    assert "diverged" in frames[-1].status and frames[-1].done
    assert all(np.isfinite([f.x_loss, f.z_loss]).all() for f in frames)
    updates = _run(tab, _editor(_face()), "explode", optimizer=optimizer, lr_x=1e30, steps=20)
    assert "diverged" in _statuses(tab, updates)[-1] and _controls_usable(tab, updates[-1])


def test_stop_ends_within_one_step_and_a_second_run_starts_fresh(tab):
    request = SimpleNamespace(session_hash="stopper")
    run = tab.run(_editor(_face()), "none", MODEL, "adam", 500, 0.1, 0.1, "mse", request=request)
    updates = [next(run) for _ in range(4)]  # controls, step 0 (with what the optimiser sees), steps 1, 2
    assert tab.seen in updates[1] and "step 0" in updates[1][tab.x_caption]  # one message, not two
    assert "step 2" in updates[-1][tab.x_caption]
    tab.stop(request)
    rest = list(run)
    assert "Stopped at step 2/500" in rest[0][tab.status]
    assert _controls_usable(tab, rest[-1]) and len(rest) == 2
    again = _run(tab, _editor(_face()), "stopper", steps=3)
    assert "step 0" in next(u[tab.x_caption] for u in again if tab.x_caption in u)


def test_run_while_a_run_is_going_gives_a_message(tab):
    request = SimpleNamespace(session_hash="busy")
    first = tab.run(_editor(_face()), "none", MODEL, "adam", 100, 0.1, 0.1, "mse", request=request)
    next(first)
    second = list(tab.run(_editor(_face()), "none", MODEL, "adam", 5, 0.1, 0.1, "mse", request=request))
    assert len(second) == 1 and "already going" in second[0][tab.status]
    other = _run(tab, _editor(_face(1)), "another-session", steps=2)  # other sessions are not blocked
    assert "Done" in _statuses(tab, other)[-1]
    tab.stop(request)
    assert "Stopped" in _statuses(tab, list(first))[-1]


def test_masked_pixels_do_not_count():
    rng = np.random.default_rng(3)
    left_hidden = preset_known("left half", SIZE)
    assert left_hidden[:, : SIZE // 2].sum() == 0 and left_hidden[:, SIZE // 2 :].all()
    first, second = _face(0), np.asarray(_face(0)).copy()
    second[:, : SIZE * EDIT_SCALE // 2] = rng.integers(0, 255, second[:, : SIZE * EDIT_SCALE // 2].shape)
    settings = RunSettings(model=MODEL, steps=4)
    losses = []
    for image in (first, Image.fromarray(second)):
        frames = stream_run(build_target(_editor(image), "left half", SIZE), settings, threading.Event())
        losses.append([(f.x_loss, f.z_loss) for f in frames])
    assert losses[0] == losses[1]
    painted = np.zeros((SIZE * EDIT_SCALE,) * 2, dtype=bool)
    painted[:4, :8] = True  # covers target pixels (0, 0) and (0, 1) fully
    weight = build_target(_editor(first, painted), "none", SIZE).weight[0, 0]
    assert weight[0, :2].eq(0).all() and weight.sum() == SIZE * SIZE - 2


def test_hypotheses_fill_both_galleries(tab):
    request = SimpleNamespace(session_hash="hypotheses")
    updates = list(
        tab.run_hypotheses(_editor(_face()), "hide mouth", MODEL, "adam", 4, 0.1, 0.1, "mse", 4.0, request=request)
    )
    shown = [u for u in updates if tab.x_gallery in u and u[tab.x_gallery]["value"]]
    # every update that fills a gallery also shows it (a plain list once undid the first frame's "visible")
    assert shown and all(u[gallery]["visible"] for u in shown for gallery in (tab.x_gallery, tab.zx_gallery))
    final = shown[-1]
    assert all(len(final[gallery]["value"]) == 4 for gallery in (tab.x_gallery, tab.z_gallery, tab.zx_gallery))
    captions = [caption for _, caption in final[tab.x_gallery]["value"]]
    assert len(set(captions)) == 4  # random starts differ
    losses = [float(caption.split("loss ")[1].split(" ")[0]) for caption in captions]
    assert losses == sorted(losses) and all(" · hidden " in caption for caption in captions)  # best fit first
    label = final[tab.zx_gallery]["label"]
    assert label.startswith("Z→X hypotheses") and "spread under the mask" in label and "best-of-4 hidden error" in label


def test_sample_loads_exactly(tab):
    update = tab.choose_sample("face_008003", MODEL)
    assert "face_008003.png" in update[tab.notice]
    value, _ = load_target(update[tab.editor]["background"], SIZE)
    assert value["background"].size == (SIZE * EDIT_SCALE,) * 2


def test_only_models_with_weights_are_listed_and_launch_flags(monkeypatch):
    register_model(
        ModelSpec(
            name="tiny_app_missing", description="no weights", output_kind="image", load=_tiny, available=lambda: False
        )
    )
    with gr.Blocks():
        tab = build_image_tab()
    choices = [value for _, value in tab.model.choices]
    assert MODEL in choices and "tiny_app_missing" not in choices

    import importlib.util
    from pathlib import Path

    import app as app_module  # the package; app.py is loaded by path below

    spec = importlib.util.spec_from_file_location("app_main", Path(app_module.__file__).parent.parent / "app.py")
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    assert (launcher.parse_args([]).host, launcher.parse_args([]).port) == ("127.0.0.1", 7860)
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    assert (launcher.parse_args([]).host, launcher.parse_args([]).port) == ("0.0.0.0", 7999)
    assert launcher.parse_args(["--port", "8001"]).port == 8001


def test_sample_and_upload_show_what_the_optimiser_sees_and_the_choice_follows(tab, tmp_path):
    chosen = tab.choose_sample("face_008003", MODEL, "hide mouth")
    assert Image.open(chosen[tab.seen]).size == (SIZE, SIZE)  # the preview comes with the sample, not later
    path = tmp_path / "mine.png"
    _face(5).save(path)
    uploaded = tab.upload_target(str(path), MODEL, "none")
    assert (
        uploaded[tab.sample]["value"] == YOUR_UPLOAD and uploaded[tab.seen] != chosen[tab.seen]
    )  # never blank, no stale preview
    assert (YOUR_UPLOAD, YOUR_UPLOAD) in uploaded[tab.sample]["choices"]
    assert "value" not in tab.choose_sample(None, MODEL)[tab.notice]  # clearing the dropdown keeps the upload
    assert "value" not in tab.choose_sample(YOUR_UPLOAD, MODEL)[tab.notice]  # so does the upload's own entry


def test_default_sample_is_a_training_face_and_cats_are_labelled_out_of_distribution():
    from app.targets import LAST_TRAINING_FACE, default_sample, sample_choices, sample_label

    name = default_sample()
    assert name.startswith("face_") and int(name.removeprefix("face_")) <= LAST_TRAINING_FACE  # test faces: benchmarks
    assert sample_label(name).endswith("(in-distribution, training)")
    labels = [label for label, _ in sample_choices()]
    assert labels[0] == sample_label(name)  # listed first
    faces = [index for index, label in enumerate(labels) if label.startswith("Face") and "(in-distribution" in label]
    cats = [index for index, label in enumerate(labels) if label.startswith("Cat") and "out-of" in label]
    assert faces and cats and max(faces) < min(cats)


def test_transparent_upload_and_non_image_api_target_are_explained(tab, tmp_path):
    from gradio.components.image_editor import EditorData
    from gradio.data_classes import FileData

    clear = tmp_path / "clear.png"
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(clear)
    assert "fully transparent" in tab.upload_target(str(clear), MODEL)[tab.notice]
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(gr.Error, match="not a readable image"):
        tab.editor.preprocess(EditorData(background=FileData(path=str(text)), layers=[], composite=None))


def test_media_files_are_named_by_content_and_never_rewritten(tmp_path):
    from app.media import image_file

    first = image_file(_face(0), folder=tmp_path)
    inode = Path(first).stat().st_ino
    assert image_file(_face(0), folder=tmp_path) == first and Path(first).stat().st_ino == inode  # same file
    assert image_file(_face(1), folder=tmp_path) != first
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        {Path(first).name, Path(image_file(_face(1), folder=tmp_path)).name}
    )


def test_old_media_files_are_pruned(tmp_path):
    import os

    from app.media import image_file, prune

    old, fresh = image_file(_face(0), folder=tmp_path), image_file(_face(1), folder=tmp_path)
    os.utime(old, (0, 0))  # written long ago
    assert prune(tmp_path, max_age=3600) == 1
    assert not Path(old).exists() and Path(fresh).exists()


def test_an_unchanged_pane_is_not_sent_again(tab):
    updates = _run(tab, _editor(_face()), "unchanged", steps=3)
    frames = [update for update in updates if tab.x_caption in update]
    assert tab.x_image in frames[0] and "Done" in frames[-1][tab.status]
    assert tab.x_image not in frames[-1] and tab.z_image not in frames[-1]  # the last step's picture, not re-sent


def test_a_run_ends_with_its_story_and_a_download(tab):
    import csv
    import json

    from app.download import LABEL_HEIGHT, LABEL_WIDTH, TILE

    updates = _run(tab, _editor(_face()), "download", steps=5)
    status = _statuses(tab, updates)[-1]
    assert "Z→X ends" in status and ("below X" in status or "above X" in status or "end level" in status)
    files = updates[-1][tab.download]
    strip, table = Image.open(files[0]), list(csv.reader(open(files[1])))
    assert table[0] == ["step", "x_loss", "z_loss", "zx_loss"]
    assert [row[0] for row in table[1:]] == ["0", "1", "2", "3", "4", "5"]
    # row labels, the target column, then steps 0, 1, 2, 5 in three rows (X, Z, Z→X)
    assert strip.size == (LABEL_WIDTH + 5 * TILE, LABEL_HEIGHT + 3 * TILE)
    settings = json.loads(Path(files[2]).read_text())
    assert settings["model"] == MODEL and settings["steps"] == 5 and settings["handoff"] >= 0
    assert len(settings["target_fingerprint"]) == 8


def test_a_run_yields_three_panes_and_a_three_curve_chart(tab):
    updates = _run(tab, _editor(_face()), "three", steps=8, handoff=3)
    panes = [update for update in updates if tab.zx_image in update]
    assert panes and all(tab.x_image in update and tab.z_image in update for update in panes[:1])
    final = [update for update in updates if tab.chart in update][-1][tab.chart]
    names = [trace.name for trace in final.data]
    assert names[:3] == ["X-space", "Z-space (Θ)", "Z→X (hand-off)"] and all(len(t.x) == 9 for t in final.data[:3])
    captions = [update[tab.zx_caption] for update in updates if tab.zx_caption in update]
    assert "Z until step 3" in captions[0] and "X since step 3" in captions[-1]
    z_curve, zx_curve = final.data[1].y, final.data[2].y
    assert list(zx_curve[:3]) == pytest.approx(list(z_curve[:3]))  # the same Z steps until the hand-off
    assert "Z→X" in _statuses(tab, updates)[-1] and "at step 8" in _statuses(tab, updates)[-1]


def test_z_to_x_goes_through_f_as_one_batch_per_step(monkeypatch):
    """Three optimisers cost one forward pass of F per step (the items of X, Z and Z→X in one batch)."""
    from app import runs

    model = _tiny()
    sizes = []
    model.register_forward_hook(lambda module, inputs, output: sizes.append(len(inputs[0])))
    monkeypatch.setattr(runs, "load_model", lambda name, device="cpu": model)
    target = build_target(_editor(_face()), "none", SIZE)
    frames = list(stream_run(target, RunSettings(model=MODEL, steps=4, handoff=2), threading.Event()))
    assert frames[-1].done and len(sizes) == 5 and set(sizes) == {3}  # steps 0..4, one pass each, 3 items


def test_a_new_target_clears_the_old_results(tab, tmp_path):
    updates = _run(tab, _editor(_face()), "clear", steps=3)
    assert updates[-1][tab.download]  # a run's results and files are on the page
    for update in (tab.choose_sample("face_008003", MODEL), _upload(tab, tmp_path)):
        assert update[tab.x_image] is None and update[tab.z_image] is None and update[tab.zx_image] is None
        assert update[tab.download] is None and update[tab.x_gallery] == [] and update[tab.zx_gallery] == []
        assert "step –" in update[tab.zx_caption] and "new target" in update[tab.status]
        assert [trace.name for trace in update[tab.chart].data][:3] == ["X-space", "Z-space (Θ)", "Z→X (hand-off)"]
        assert all(len(trace.x) == 0 for trace in update[tab.chart].data)  # an empty chart, not the old curves
    assert set(tab.results) <= set(tab.cleared())
    (tmp_path / "notes.png").write_text("not an image")
    bad = tab.upload_target(str(tmp_path / "notes.png"), MODEL)
    assert tab.x_image not in bad  # an unusable upload keeps the results of the target still shown


def _upload(tab: ImageTab, tmp_path: Path) -> dict:
    path = tmp_path / "new.png"
    _face(7).save(path)
    return tab.upload_target(str(path), MODEL)


def test_samples_follow_the_generator(tab):
    from app.tabs.image import model_sample_choices, model_samples

    digits = model_sample_choices("digits")
    assert digits and all(label.startswith("Digit ") for label, _ in digits)
    assert all(name.startswith("face_") or name.startswith("cat_") for _, name in model_sample_choices("faces64"))
    update = tab.follow_model("digits", "face_008003")
    assert update[tab.sample]["value"] == digits[0][1] and "follow the generator" in update[tab.notice]
    assert "value" not in tab.follow_model("digits", digits[1][1])[tab.sample]  # a fitting sample stays
    refused = tab.choose_sample("face_008003", "digits")  # a face is never shrunk into a digit
    assert tab.editor not in refused and "not a sample for digits" in refused[tab.notice]
    assert set(model_samples("digits")) == {name for _, name in digits}
    if "digits" in available_models("image"):
        loaded = tab.choose_sample(digits[0][1], "digits")
        assert loaded[tab.editor]["background"].size == (28 * EDIT_SCALE,) * 2
        assert "follow the generator: digits" in loaded[tab.notice] and "64×64" not in loaded[tab.notice]


def test_domain_notice_only_far_above_the_training_faces():
    from app.domain import TRAINING_FACE_LOSS, domain_notice

    assert "far from what faces64 knows" in domain_notice("faces64", "mse+lpips", 200, 0.6, 0.5)
    assert "harder than 9 in 10 training faces" in domain_notice("faces64", "mse+lpips", 200, 0.26, 0.25)  # a cat
    assert domain_notice("faces64", "mse+lpips", 200, 0.13, 0.15) == ""  # a held-out face
    assert "harder than" in domain_notice("faces64", "mse+lpips", 200, TRAINING_FACE_LOSS, 0.9)
    assert domain_notice("faces64", "mse", 200, 0.6, 0.5) == ""  # thresholds hold for the default objective only
    assert domain_notice("faces64", "mse+lpips", 20, 0.6, 0.5) == ""  # too short a run to judge


FACE_SAMPLE = Path(__file__).resolve().parents[3] / "app" / "samples" / "face_008311.png"


def _background(update: dict, tab: ImageTab) -> np.ndarray:
    return np.asarray(update[tab.editor]["background"].convert("RGB"), dtype=np.float32)


def test_face_upload_is_aligned_and_shown_aligned(tab, tmp_path):
    face = Image.open(FACE_SAMPLE).convert("RGB")
    photo = Image.new("RGB", (360, 240), (120, 130, 110))
    photo.paste(face.resize((128, 128), Image.Resampling.BICUBIC), (200, 70))  # off-centre in a bigger photo
    upload = tmp_path / "holiday.png"
    photo.save(upload)
    aligned = tab.upload_target(str(upload), "faces64", "none", True)
    plain = tab.upload_target(str(upload), "faces64", "none", False)
    assert "aligned: face found" in aligned[tab.notice] and "aligned" not in plain[tab.notice]
    assert aligned[tab.sample]["value"] == YOUR_UPLOAD and aligned[tab.seen] is not None
    sample = np.asarray(face.resize((64 * EDIT_SCALE,) * 2, Image.Resampling.NEAREST), dtype=np.float32)
    aligned_error = np.abs(_background(aligned, tab) - sample).mean()
    plain_error = np.abs(_background(plain, tab) - sample).mean()
    assert aligned_error < 0.5 * plain_error, (aligned_error, plain_error)  # the editor holds the aligned crop


def test_align_toggle_reloads_an_upload_but_never_a_sample(tab, tmp_path):
    upload = tmp_path / "wall.png"
    Image.new("RGB", (120, 90), (200, 180, 160)).save(upload)
    assert "no face found: used the centre crop" in tab.realign(str(upload), None, "faces64", "none", True)[tab.notice]
    assert tab.realign(str(upload), "face_008311", "faces64", "none", False) == {tab.notice: gr.update()}
    assert "aligned" not in tab.upload_target(str(upload), MODEL, "none", True)[tab.notice]  # not a face model


def _final_loss(text: str) -> float:
    return float(text.split("loss ")[1].split(" ")[0])


def test_refine_past_the_generator_is_off_by_default(tab):
    value, _notice = load_target(FACE_SAMPLE, 64)
    updates = list(tab.run(value, "none", "faces64", "adam", 4, 0.05, 0.05, "mse", None, request=SimpleNamespace(session_hash="plain")))  # fmt: skip
    assert not any(u[tab.final_image]["visible"] for u in updates if tab.final_image in u)
    assert "final_loss" not in open(updates[-1][tab.download][1]).readline()
    assert tab.refine.value is False and "Refine past the generator" == tab.refine.label


def test_refine_runs_the_last_stage_within_the_step_budget(tab):
    """Refine on: Z→X to step 4 of 8, then 4 steps in the feature map ending at step 8, lower than Z→X there;
    its curve on the chart from step 4 and in the CSV; its caption says first that it is not the model's own."""
    value, _notice = load_target(FACE_SAMPLE, 64)
    request = SimpleNamespace(session_hash="final")
    updates = list(tab.run(value, "none", "faces64", "adam", 8, 0.05, 0.05, "mse", None, True, request=request))
    zx_loss = float([u[tab.zx_caption] for u in updates if tab.zx_caption in u][-1].split("loss ")[1].split(" ")[0])
    shown = [u for u in updates if tab.final_image in u and u[tab.final_image]["visible"]]
    assert len(shown) == 1 and shown[0][tab.final_image]["value"]
    text = shown[0][tab.final_caption]
    assert text.startswith("**Final · refined past the generator: not the model's reconstruction**"), text
    assert "Z→X to step 4, then 4 steps" in text and _final_loss(text) < zx_loss
    final = [trace for trace in shown[0][tab.chart].data if trace.name.startswith("Final")]
    assert len(final) == 1 and list(final[0].x) == [4, 5, 6, 7, 8]
    table = list(csv.reader(open(updates[-1][tab.download][1])))
    assert table[0][-1] == "final_loss" and [row[-1] for row in table[1:4]] == ["", "", ""]
    assert abs(float(table[-1][-1]) - _final_loss(text)) < 1e-5 and abs(float(table[5][-1]) - float(table[5][3])) < 1e-5
    assert "Done at step 8/8" in _statuses(tab, updates)[-1] and "Final (refined" in _statuses(tab, updates)[-1]
    assert _controls_usable(tab, updates[-1]) and not SESSIONS.is_running("final")


def test_refine_leaves_a_non_face_unrefined_and_says_why(tab):
    from engines.io.images import tensor_to_image
    from tests.app.test_domain import church

    scene = load_target(tensor_to_image(church()), 64)[0]
    request = SimpleNamespace(session_hash="unrefined")
    updates = list(tab.run(scene, "none", "faces64", "adam", 4, 0.05, 0.05, "mse", None, True, request=request))
    assert not any(u[tab.final_image]["visible"] for u in updates if tab.final_image in u)
    assert "Refine past the generator: not run, the face detector finds no face" in _statuses(tab, updates)[-1]
    assert "final_loss" not in open(updates[-1][tab.download][1]).readline()


def test_a_run_on_a_non_face_says_so_and_on_a_face_does_not(tab):
    from engines.io.images import tensor_to_image
    from tests.app.test_domain import church

    request = SimpleNamespace(session_hash="domain")
    scene = load_target(tensor_to_image(church()), 64)[0]
    for value, flagged in ((scene, True), (load_target(FACE_SAMPLE, 64)[0], False)):
        updates = list(tab.run(value, "none", "faces64", "adam", 4, 0.05, 0.05, "mse", None, request=request))
        final = _statuses(tab, updates)[-1]
        assert "Done at step" in final and ("This does not look like a face" in final) is flagged, final


def test_run_on_a_non_face_model_has_no_final_stage(tab):
    updates = _run(tab, _editor(_face()), "no-final", steps=3, refine=True)
    assert not any(u[tab.final_image]["visible"] for u in updates if tab.final_image in u)


def test_a_preset_is_drawn_on_the_target_itself_and_the_strokes_stay(tab):
    painted = np.zeros((SIZE * EDIT_SCALE,) * 2, bool)
    painted[:EDIT_SCALE, :EDIT_SCALE] = True  # the visitor's own stroke, top-left pixel
    update = tab.show_preset(_editor(_face(), painted), "left half", MODEL)
    layer = np.asarray(update[tab.editor]["layers"][0])
    half = SIZE * EDIT_SCALE // 2
    assert (layer[:, :half, 3] > 0).all() and (layer[:, half:, 3] == 0)[EDIT_SCALE:].all()  # the hidden half, drawn
    assert (layer[:EDIT_SCALE, :EDIT_SCALE, 3] == 255).all()  # the stroke kept at full alpha
    seen = build_target(update[tab.editor], "none", SIZE)  # what is drawn is what the optimiser leaves out
    assert torch.equal(seen.weight[0, 0], preset_known("left half", SIZE))
    back = tab.show_preset(update[tab.editor], "none", MODEL)[tab.editor]  # another preset: the old one is wiped
    layer = np.asarray(back["layers"][0])
    assert (layer[:EDIT_SCALE, :EDIT_SCALE, 3] == 255).all() and (layer[EDIT_SCALE:, :, 3] == 0).all()


def test_after_a_run_the_panes_show_any_kept_step(tab):
    updates = _run(tab, _editor(_face()), "compare", steps=25)
    picker, kept = updates[-1][tab.step_pick], updates[-1][tab.kept]
    assert picker["visible"] and picker["value"] == "25"
    assert [value for _, value in picker["choices"]] == ["0", "1", "2", "5", "10", "20", "25"]
    shown = tab.show_step("2", kept)
    assert "step 2 ·" in shown[tab.x_caption] and "step 2 ·" in shown[tab.zx_caption]
    assert all(Image.open(shown[pane]).size == (SIZE, SIZE) for pane in (tab.x_image, tab.z_image, tab.zx_image))
    assert shown[tab.x_image] != tab.show_step("20", kept)[tab.x_image]  # another step, another picture
    assert f"{kept['losses']['20'][1]:.5f}" in tab.show_step("20", kept)[tab.z_caption]
    assert updates[0][tab.step_pick]["visible"] is False  # hidden while a run goes


def test_a_run_that_cannot_start_says_why_in_the_chart(tab):
    updates = _run(tab, _editor(_face()), "bad-rate", lr_x=-1)
    chart = updates[-1][tab.chart]
    assert (
        "⚠" in updates[-1][tab.status] and chart.layout.annotations and "No curve" in chart.layout.annotations[0].text
    )


def test_a_clicked_example_loads_its_target_with_the_preset_drawn(tab):
    from app.targets import sample_paths

    name = next(iter(sample_paths()))
    update = tab.load_example(str(sample_paths()[name]), name, "hide mouth", MODEL)
    assert (
        update[tab.sample]["value"] == name
        and update[tab.preset] == "hide mouth"
        and update[tab.model]["value"] == MODEL
    )
    assert update[tab.sample]["interactive"] and update[tab.model]["interactive"]  # usable again after a run it ended
    assert np.asarray(update[tab.editor]["layers"][0])[..., 3].any()  # the mask is on the target
    assert update[tab.download] is None  # the old run's results are cleared


def test_a_new_target_mid_run_ends_it_without_another_frame(tab):
    """A sample chosen while a run streams: the run yields nothing more (not even its closing frame) and the
    loader returns, once the run has ended, the cleared panes with the controls usable."""
    import threading
    import time

    from app.session import SESSIONS as registry

    request = SimpleNamespace(session_hash="supersede")
    run = tab.run(_editor(_face()), "none", MODEL, "adam", 200, 0.1, 0.1, "mse", 2, request=request)
    for _ in range(4):
        next(run)  # the run is paused between two frames, as while Gradio sends one
    stop = registry._runs["supersede"]
    loaded = {}
    loader = threading.Thread(target=lambda: loaded.update(tab.choose_sample("face_008042", MODEL, request=request)))
    loader.start()
    while not stop.superseded:
        time.sleep(0.01)
    assert loader.is_alive()  # the loader waits for the run's end before it answers
    assert list(run) == []  # no frame more: neither a step nor the closing "Stopped" frame
    loader.join(timeout=20)
    assert not loader.is_alive() and not registry.is_running("supersede")
    assert loaded[tab.run_button]["interactive"] and not loaded[tab.stop_button]["interactive"]
    assert loaded[tab.x_image] is None and "new target" in loaded[tab.status]


def test_the_verdict_scores_the_hidden_pixels_against_the_truth():
    from app.runs import verdict
    from app.targets import Target

    image = torch.rand(1, 3, SIZE, SIZE) * 2 - 1
    weight = preset_known("left half", SIZE)[None, None]
    target = Target(image=image, weight=weight, fingerprint="t")
    hidden_right = image + 0.4 * weight  # misses every visible pixel, guesses the hidden ones exactly
    visible_right = image + 0.4 * (1 - weight)  # fits what it is shown, guesses the hidden part wrong
    outputs = torch.stack([visible_right, hidden_right, image + 0.2 * (1 - weight)])  # X, Z, Z→X (K = 1)
    x = [1.0, 0.1, 0.01]  # X fits the visible pixels best
    z = [1.0, 0.5, 0.16]
    sentence = verdict(target, (x, z, [1.0, 0.5, 0.1]), outputs, k=1)
    assert sentence.startswith("Under the mask (the hidden pixels, never shown to the optimiser) Z guessed best: ")
    assert "X fits the visible part best but guesses the hidden part worst" in sentence
    painted = Target(image=image, weight=weight, fingerprint="t", unknown_truth="painted-over pixels")
    unknown = verdict(painted, (x, z, [1.0, 0.5, 0.1]), outputs, k=1)
    assert unknown.startswith("The truth under the mask is unknown (painted-over pixels)") and "guessed" not in unknown
    whole = Target(image=image, weight=torch.ones_like(weight), fingerprint="t")
    assert verdict(whole, (x, z, [1.0, 0.5, 0.1]), outputs, k=1).startswith("Z ")  # nothing hidden: the curves only


def test_a_preset_keeps_the_truth_known_and_paint_makes_it_unknown(tab):
    editor = _editor(_face())
    assert build_target(editor, "left half", SIZE).unknown_truth == ""
    painted = np.zeros((SIZE * EDIT_SCALE,) * 2, bool)
    painted[:EDIT_SCALE, -EDIT_SCALE:] = True  # one target pixel in the known (right) half
    assert build_target(_editor(_face(), painted), "left half", SIZE).unknown_truth == "painted-over pixels"
    updates = _run(tab, editor, "hidden", steps=4, preset="left half")
    assert "Under the mask (the hidden pixels" in _statuses(tab, updates)[-1]
    updates = _run(tab, _editor(_face(), painted), "painted", steps=4, preset="left half")
    assert "The truth under the mask is unknown (painted-over pixels)" in _statuses(tab, updates)[-1]
