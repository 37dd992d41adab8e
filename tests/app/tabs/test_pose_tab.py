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
    status = updates[-1][parts["status"]]
    assert status.startswith("Done.") and "Z→X" in status and ("below X" in status or "above X" in status or "level" in status)  # fmt: skip
    assert "Under the mask (the hidden joints, best of 3 hypotheses" in status and "Visible fit: " in status
    assert any(parts["live"] in update for update in updates[:-1])
    meshes = next(index for index, update in enumerate(updates) if parts["x_mesh"] in update)
    final = next(update for update in updates if parts["x_view"] in update)
    assert meshes < updates.index(final)  # the meshes go first: the browser takes longest to load them
    views = [final[parts[name]] for name in ("x_view", "z_view", "zx_view")]
    assert all(view is not None for view in views) and "Z→X" in views[2].layout.title.text
    assert all(updates[meshes][parts[name]].endswith(".glb") for name in ("x_mesh", "z_mesh", "zx_mesh"))
    target = views[0].data[0]
    assert target.name == "target" and target.line.dash is None and target.opacity in (None, 1)  # drawn, not faded
    chart = final[parts["chart"]]
    assert [trace.name for trace in chart.data][:3] == ["X-space", "Z-space (Θ)", "Z→X (hand-off)"]
    assert all(len(trace.x) == 7 for trace in chart.data[:3])  # steps 0..6, three curves


def test_hand_off_step_is_honoured_and_three_spaces_share_one_batch(parts, monkeypatch):
    from app.tabs import pose
    from engines.models.registry import load_model

    forward, truth = load_model("pose32"), pose.target_pose("pose32", RANDOM_SAMPLE, 0, 1)
    sizes = []
    handle = forward.register_forward_hook(lambda module, inputs, output: sizes.append(len(inputs[0])))
    try:
        settings = dict(steps=4, lr_x=0.1, lr_z=0.05, hypotheses=2, handoff=2)
        triples = list(pose._runs("pose32", truth, ["head"], settings, "cpu")[1])
    finally:
        handle.remove()
    assert [step.space for step in (t[2] for t in triples)] == ["z", "z", "x", "x", "x"]
    assert set(sizes) == {6}  # X, Z and Z→X, two hypotheses each, in every pass of F
    bad = dict(steps=3, lr_x=0.1, lr_z=0.05, hypotheses=1, handoff=-1)
    updates = list(_stream(parts, controls(parts), "pose32", (RANDOM_SAMPLE, 0, 1), [["head"]], bad, "t6"))
    assert "hand-off step must be a whole number" in updates[-1][parts["status"]]


def test_a_new_target_clears_the_old_results(parts):
    from app.tabs.pose import cleared

    update = cleared(parts)
    assert all(update[parts[name]] is None for name in ("x_view", "z_view", "zx_view", "x_mesh", "zx_mesh", "live"))
    assert parts["target_mesh"].value is not None  # from the start: the 3D viewer loads with the page
    assert all(len(trace.x) == 0 for trace in update[parts["chart"]].data) and "new target" in update[parts["status"]]


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


def test_a_frame_past_the_clip_end_is_said_not_silently_clamped():
    from app.tabs.pose import bundled_samples, clip_length, frame_choice

    clip = next(iter(bundled_samples()))
    length = clip_length(clip)
    slider, notice = frame_choice(clip, 100)
    assert slider["maximum"] == length - 1 and slider["value"] == length - 1
    assert f"frame 100 is past the end of this {length}-frame clip" in notice
    assert frame_choice(clip, 2) == ({"__type__": "update", "maximum": length - 1, "value": 2}, "")
    assert frame_choice(RANDOM_SAMPLE, 100)[1] == ""  # a prior sample has no frames


def test_left_arm_only_names_the_hidden_joint_errors_and_never_crowns_the_overfitting_space(parts):
    """A bundled sample with only the left arm observed, the tab's default 200 steps: the sentence leads with
    the three spaces' errors on the hidden joints, recomputed here from the same runs, and names as best
    the space that guessed them best, whichever space fits the four visible joints best."""
    import re

    import numpy as np
    import torch

    from app.tabs import pose
    from engines.models.pose.skeleton import PRESETS

    sample = next(iter(pose.bundled_samples()))  # washing a window: the arms at work
    observed = list(PRESETS["left arm only"])
    settings = dict(steps=200, lr_x=0.1, lr_z=0.05, hypotheses=1)
    updates = list(_stream(parts, controls(parts), "pose32", (sample, 0, 0), [observed], settings, "left-arm"))
    status = updates[-1][parts["status"]]
    match = re.search(r"Under the mask \(the hidden joints, never shown to the optimiser\) (\S+) guessed best: "
                      r"error (\S+) ([\d.]+), (?:\d+% below|level with) (\S+) ([\d.]+); (\S+) ([\d.]+) units", status)  # fmt: skip
    assert match, status
    named = {match.group(2): float(match.group(3)), match.group(4): float(match.group(5))}
    named[match.group(6)] = float(match.group(7))
    assert set(named) == {"X", "Z", "Z→X"} and match.group(1) == match.group(2)
    # the same runs again, measured independently: forward kinematics of the final poses
    target = pose.target_pose("pose32", sample, 0, 0)
    forward, runs = pose._runs("pose32", target, observed, settings, "cpu")
    *_, last = runs
    skeleton = forward.skeleton
    hidden = [slot for slot, name in enumerate(skeleton.names) if name in pose.BODY_JOINTS and name not in observed]
    truth = pose.positions("pose32", torch.tensor([target]))[0, hidden]
    with torch.no_grad():
        errors = {
            space: float(np.linalg.norm(pose.positions("pose32", forward(step.x))[0, hidden] - truth, axis=-1).mean())
            for space, step in zip(("X", "Z", "Z→X"), last)
        }
    for space, error in errors.items():
        assert named[space] == pytest.approx(error, abs=0.006, rel=0.002)  # printed to 3 significant digits
    assert match.group(1) == min(errors, key=errors.get)  # the winner is the best guess of the hidden joints
    visible = {space: float(step.losses[0]) for space, step in zip(("X", "Z", "Z→X"), last)}
    fits_best = min(visible, key=visible.get)
    if errors[fits_best] > min(errors.values()):  # the space that overfits the visible joints is not the winner
        assert match.group(1) != fits_best and "Visible fit: " in status
