"""The 3D pose tab's run handler, driven directly (shipped pose32 assets, a few steps)."""

from __future__ import annotations

import threading

import gradio as gr
import pytest

from app.session import SESSIONS
from app.tabs.pose import RANDOM_SAMPLE, _stream, build_pose_tab
from engines.models.registry import available_models


@pytest.fixture(scope="module")
def parts():
    if "pose32" not in available_models("pose"):
        pytest.skip("pose32 assets absent")
    with gr.Blocks():
        return build_pose_tab()


def controls(parts):
    return [parts[name] for name in ("run_button", "hypotheses_button", "stop_button", "model", "source")]


def test_run_streams_views_and_ends_with_meshes(parts):
    settings = dict(steps=6, lr_x=0.1, lr_z=0.05, hypotheses=3)
    updates = list(
        _stream(parts, controls(parts), "pose32", (RANDOM_SAMPLE, 0, 1), [["lhumerus", "lradius"]], settings, "t1")
    )
    assert updates[-1][parts["status"]].startswith("Done.")
    assert "Hidden joints vs the ground truth" in updates[-1][parts["status"]]
    assert "lower than" in updates[-1][parts["status"]] or "level" in updates[-1][parts["status"]]
    assert any(parts["live"] in update for update in updates[:-1])
    assert any(parts["x_view"] in update and update[parts["x_view"]] is not None for update in updates)
    meshes = next(update for update in updates if parts["x_mesh"] in update)
    assert meshes[parts["x_mesh"]].endswith(".glb") and meshes[parts["z_mesh"]].endswith(".glb")


def test_no_observed_joint_gives_a_message_and_reenables_controls(parts):
    settings = dict(steps=3, lr_x=0.1, lr_z=0.05, hypotheses=1)
    updates = list(_stream(parts, controls(parts), "pose32", (RANDOM_SAMPLE, 0, 1), [[]], settings, "t2"))
    assert "at least one" in updates[-1][parts["status"]]
    assert not SESSIONS.is_running("t2")


def test_stop_ends_the_run_early(parts):
    settings = dict(steps=400, lr_x=0.1, lr_z=0.05, hypotheses=1)
    stream = _stream(parts, controls(parts), "pose32", (RANDOM_SAMPLE, 0, 1), [["head"]], settings, "t3")
    next(stream)
    threading.Timer(0.0, SESSIONS.stop, ("t3",)).run()
    updates = list(stream)
    assert updates[-1][parts["status"]].startswith("Stopped.")


def test_exploding_learning_rate_is_reported_not_done(parts):
    settings = dict(steps=30, lr_x=1e9, lr_z=0.05, hypotheses=1)
    updates = list(_stream(parts, controls(parts), "pose32", (RANDOM_SAMPLE, 0, 1), [["head"]], settings, "t4"))
    assert "X-space diverged" in updates[-1][parts["status"]] and not SESSIONS.is_running("t4")


def test_bundled_samples_work_with_an_empty_data_folder(monkeypatch, tmp_path):
    import engines.io.data
    from app.tabs import pose

    monkeypatch.setattr(engines.io.data, "SHARED_DATA", tmp_path)  # nothing beside the clone
    pose.test_clips.cache_clear()
    try:
        assert pose.test_clips() == {}
        with gr.Blocks():
            bare = build_pose_tab()
        sources = [value for _, value in bare["source"].choices]
        assert any("washwindow" in source for source in sources) and bare["source"].value in pose.bundled_samples()
        settings = dict(steps=4, lr_x=0.1, lr_z=0.05, hypotheses=1)
        choice = (bare["source"].value, 3, 0)
        updates = list(_stream(bare, controls(bare), "pose32", choice, [["head", "lhumerus"]], settings, "t5"))
        assert updates[-1][bare["status"]].startswith("Done.")
        truth = pose.sample_poses(pose.bundled_samples()[bare["source"].value])[3]
        assert pose.target_pose("pose32", *choice) == truth.tolist()
    finally:
        pose.test_clips.cache_clear()
