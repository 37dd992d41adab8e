"""The "Learn Θ" tab and its runs on a tiny random model: rounds stream, Stop ends, one job per server,
a learned Θ stays in its own session, and Θ files round-trip or are refused with a clear message."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from types import SimpleNamespace

import gradio as gr
import pytest
import torch

from app import learn_runs
from app.learn_runs import (
    MAPPINGS,
    LearnLine,
    LearnSettings,
    chosen_mapping,
    learn_frames,
    load_theta_file,
    own_targets,
    theta_key,
    write_theta_file,
)
from app.runs import RunSettings, start_runs
from app.tabs.learn import LearnTab, build_tab, forget_session, load_theta
from app.targets import Target
from engines.core.mapping import MappingConfig, MappingNetwork, save_mapping_file
from engines.core.trainer import TrainConfig
from engines.io.images import tensor_to_image
from engines.models.registry import ModelSpec, register_model
from engines.train import live
from tests.conftest import TinyImageModel

MODEL = "tiny_app_learn"


def _tiny() -> TinyImageModel:
    torch.manual_seed(0)
    return TinyImageModel(input_dim=8, size=8)


register_model(ModelSpec(name=MODEL, description="tiny random test model", output_kind="image", load=_tiny))
SMALL = TrainConfig(rounds=10_000, trajectories=8, steps=4, updates_per_round=5, batch_size=8, mapping_lr=3e-3)


@pytest.fixture(autouse=True)
def own_line(monkeypatch):
    """A line of its own per test (a job another test module left behind cannot block these)."""
    monkeypatch.setattr(learn_runs, "LINE", LearnLine())


@pytest.fixture(autouse=True)
def tiny_recipe(monkeypatch):
    monkeypatch.setitem(
        live.RECIPES, MODEL, live.LiveRecipe(SMALL, hidden=16, z_dim=None, targets=8, data="tiny", probe_loss="mse")
    )


@pytest.fixture
def own(tmp_path) -> list[str]:
    """Six image files the tiny model made (the visitor's "own targets")."""
    with torch.no_grad():
        images = _tiny()(torch.randn(6, 8, generator=torch.Generator().manual_seed(3)))
    paths = []
    for number, image in enumerate(images):
        paths.append(str(tmp_path / f"own_{number}.png"))
        tensor_to_image(image).save(paths[-1])
    return paths


def _learn(paths, session: str, rounds: int = 2) -> list:
    """A job on ``paths`` stopped after ``rounds`` rounds (a round of the tiny model takes milliseconds)."""
    stop, frames = threading.Event(), []
    for frame in learn_frames(LearnSettings(model=MODEL, seconds=60), stop, own=_targets(paths), session=session):
        frames.append(frame)
        if frame.round == rounds:
            stop.set()
    return frames


def _targets(paths):
    return own_targets(paths, _tiny())


def test_frames_stream_rounds_and_stop_ends_within_a_round(own):
    stop = threading.Event()
    frames = []
    for frame in learn_frames(LearnSettings(model=MODEL, seconds=60), stop, own=_targets(own), session="s-stream"):
        frames.append(frame)
        if frame.round == 3:
            stop.set()
    assert [frame.round for frame in frames] == [0, 1, 2, 3, 3]
    last = frames[-1]
    assert last.done and last.status.startswith("Stopped after 3 rounds") and last.learning_seconds < 60
    assert len(last.trajectory_loss) == 3 and len(last.probes) == 4  # round 0 is probed too
    assert set(last.probes[-1]) == {"x_loss", "z_loss", "zx_loss"} and set(last.probes[-1]["z_loss"]) == {
        "2",
        "20",
        "200",
    }
    before, now = last.landscapes
    assert before["losses"] != now["losses"] and len(now["losses"]) == 21
    assert len(last.reconstructions) == 4 and all(len(row) == 3 for row in last.reconstructions)
    assert MAPPINGS.last_learned("s-stream").model == MODEL


def test_the_budget_ends_a_job(own, monkeypatch):
    slow = live.LiveRecipe(replace(SMALL, updates_per_round=300), hidden=16, z_dim=None, targets=8, data="", probe_loss="mse")  # fmt: skip
    monkeypatch.setitem(live.RECIPES, MODEL, slow)  # rounds of a few tenths of a second
    frames = list(learn_frames(LearnSettings(model=MODEL, seconds=1), threading.Event(), own=_targets(own), session="s-budget"))  # fmt: skip
    assert frames[-1].done and frames[-1].status.startswith("Done") and frames[-1].learning_seconds >= 1


def test_one_job_at_a_time_and_a_waiting_job_can_leave():
    line, first, second = LearnLine(), object(), object()
    assert list(line.wait(first, threading.Event())) == []  # its turn at once
    stop = threading.Event()
    waiting = line.wait(second, stop, poll=0.01)
    assert next(waiting) == 1  # one job ahead
    stop.set()
    assert list(waiting) == [] and len(line) == 2
    line.leave(second)
    line.leave(first)
    assert len(line) == 0


def test_an_abandoned_job_does_not_hold_the_line_for_ever():
    """A job whose page went away and that nobody advances (its ``finally`` never ran) is dropped when stale."""
    line, abandoned, waiting = LearnLine(stale_seconds=0.05), object(), object()
    assert list(line.wait(abandoned, threading.Event())) == []
    line.alive(abandoned)
    places = list(line.wait(waiting, threading.Event(), poll=0.01))
    assert places and set(places) == {1} and len(line) == 1  # waited behind it, then got the slot


def test_a_learned_theta_changes_only_its_own_sessions_runs(own):
    """Session A uses a learned Θ; session B's run (same target, same settings) is what it was before."""
    target = Target(image=_targets(own)[:1], weight=None, fingerprint="t")

    def final_z(session):
        settings = RunSettings(model=MODEL, steps=5, theta=theta_key(session, MODEL))
        runs, note = start_runs(target, settings)
        *_, last = runs
        return float(last[1].losses.min()), note

    before_b, _ = final_z("session-b")
    _learn(own, "session-a")
    MAPPINGS.use("session-a", MAPPINGS.last_learned("session-a"))
    z_a, note_a = final_z("session-a")
    z_b, note_b = final_z("session-b")
    assert z_b == before_b and "your own" not in note_b
    assert z_a != before_b and "your own" in note_a
    assert chosen_mapping(theta_key("session-a", MODEL), "another model") is None
    forget_session("session-a")
    assert theta_key("session-a", MODEL) == ""


def test_theta_file_round_trip_and_refusals(tmp_path, own):
    _learn(own, "s-file")
    learned = MAPPINGS.last_learned("s-file")
    path = write_theta_file(learned, tmp_path)
    loaded = load_theta_file(path, MODEL)
    assert all(torch.equal(loaded.mapping.state_dict()[k], v) for k, v in learned.mapping.state_dict().items())
    wrong = tmp_path / "wrong.safetensors"
    save_mapping_file(wrong, MappingNetwork(MappingConfig(z_dim=5, x_dim=5, hidden=4)), {"model": "other"})
    with pytest.raises(ValueError, match="inputs of size 5; this model takes 8"):
        load_theta_file(wrong, MODEL)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a tensor file at all")
    with pytest.raises(ValueError, match="not a safetensors file"):
        load_theta_file(junk, MODEL)
    message = load_theta(str(junk), MODEL, request=SimpleNamespace(session_hash="s-upload"))
    assert message.startswith("⚠ Θ not loaded") and theta_key("s-upload", MODEL) == ""
    assert "loaded" in load_theta(str(path), MODEL, request=SimpleNamespace(session_hash="s-upload"))
    assert theta_key("s-upload", MODEL) != ""


def test_tab_handlers_stream_stop_use_and_download(own):
    with gr.Blocks():
        tab = build_tab()
    assert isinstance(tab, LearnTab)
    request = SimpleNamespace(session_hash="s-tab")
    updates = []
    runner = tab.run(MODEL, "random", 30, own, request=request)
    for update in runner:
        updates.append(update)
        if tab.trajectory in update and len(update[tab.probe].data[0].x) >= 3:
            tab.stop(request=request)
    final = updates[-1]
    assert final[tab.download] and final[tab.download].endswith(".safetensors")
    assert final[tab.use_button]["interactive"] and final[tab.start_button]["interactive"]
    assert any(tab.landscapes in update for update in updates)
    assert "tabs now use this Θ" in tab.use(request=request)
    assert theta_key("s-tab", MODEL) != ""
    with pytest.raises(ValueError):
        LearnSettings(model=MODEL, seconds=601)
    bad = list(tab.run(MODEL, "random", 10_000, None, request=request))
    assert bad[-1][tab.status].startswith("⚠")
    time.sleep(0)
