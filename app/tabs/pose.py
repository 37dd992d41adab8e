"""The "3D pose" tab: pick a target pose and its observed joints, then complete the hidden joints
by inverting a pose prior in X-space and Z-space side by side.

Call :func:`build_pose_tab` inside an enclosing ``gr.Blocks``/``gr.Tab``. State holds plain
lists only; models are loaded once by :mod:`engines.models.registry`.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import gradio as gr
import numpy as np
import torch

from app.figures import X_COLOUR, Z_COLOUR, loss_figure
from app.gpu import device_outside_gpu_functions
from app.pose_figures import skeleton_figure
from app.session import SESSIONS, RunInProgress, session_id
from engines.core.optim import invert
from engines.models.pose.fk import forward_kinematics
from engines.models.pose.mesh import glb_bytes
from engines.models.pose.skeleton import BODY_JOINTS, LIMB_GROUPS, PRESETS, joint_weight
from engines.models.registry import available_models, load_mapping, load_model

logger = logging.getLogger(__name__)
TITLE, ORDER = "3D pose", 20  # the tab after "Image inversion" (see app.ui.tab_modules)
RANDOM_SAMPLE = "random prior sample"
REFRESH_SECONDS = 0.4


@lru_cache(maxsize=1)
def test_clips() -> dict[str, str]:
    """Test clips by short name (empty when the shared data is absent)."""
    from engines.io.data import data_path
    from engines.models.pose.data import list_clips

    try:
        folder = data_path("cmu_mocap") / "test"
        return {str(clip.relative_to(folder)): str(clip) for clip in list_clips(folder)}
    except (FileNotFoundError, ValueError):
        return {}


@lru_cache(maxsize=8)
def clip_poses(path: str) -> np.ndarray:
    from engines.models.pose.data import frames_to_pose, read_clip
    from engines.models.pose.skeleton import load_skeleton

    return frames_to_pose(read_clip(Path(path)), load_skeleton().names).numpy()


def target_pose(model: str, source: str, frame: float, seed: float) -> list[float]:
    """The target as a plain list: a test-clip frame, or a sample of the prior (seeded)."""
    forward = load_model(model)
    if source == RANDOM_SAMPLE or source not in test_clips():
        latent = torch.randn(1, forward.input_dim, generator=torch.Generator().manual_seed(int(seed)))
        return forward(latent)[0].tolist()
    poses = clip_poses(test_clips()[source])
    return poses[min(int(frame), len(poses) - 1)].tolist()


def observed_joints(groups: list[list[str]]) -> list[str]:
    return [name for group in groups for name in group]


def positions(model: str, poses: torch.Tensor) -> np.ndarray | None:
    skeleton = getattr(load_model(model), "skeleton", None)
    return None if skeleton is None else forward_kinematics(skeleton, poses).numpy()


def views(model: str, x_poses, z_poses, target, observed: list[str]) -> tuple:
    skeleton = getattr(load_model(model), "skeleton", None)
    if skeleton is None:
        return None, None
    target_points = positions(model, torch.tensor([target]))[0]
    slots = [skeleton.names.index(name) for name in observed]
    x_figure = skeleton_figure(
        skeleton, positions(model, x_poses), target_points, slots, colour=X_COLOUR, title="X-space"
    )
    z_figure = skeleton_figure(
        skeleton, positions(model, z_poses), target_points, slots, colour=Z_COLOUR, title="Z-space (Θ)"
    )
    return x_figure, z_figure


def mesh_file(model: str, pose: torch.Tensor) -> str | None:
    forward = load_model(model)
    if getattr(forward, "skeleton", None) is not None:
        data = glb_bytes(forward.skeleton, forward_kinematics(forward.skeleton, pose[None])[0])
    elif getattr(forward, "smplx", None) is not None:
        from engines.models.pose.smplx_vposer import smplx_glb

        data = smplx_glb(forward.smplx, pose)
    else:
        return None
    handle = tempfile.NamedTemporaryFile(suffix=".glb", delete=False)
    handle.write(data)
    handle.close()
    return handle.name


def build_pose_tab() -> dict:
    """Create the tab's components and events in the current Blocks context; returns the components."""
    models = available_models("pose")
    clips = list(test_clips())
    with gr.Row():
        with gr.Column(scale=1):
            model = gr.Dropdown(models, value=models[0] if models else None, label="Pose prior F")
            source = gr.Dropdown([*clips, RANDOM_SAMPLE], value=clips[0] if clips else RANDOM_SAMPLE, label="Target")
            frame = gr.Slider(0, 2000, value=0, step=1, label="Frame of the test clip")
            seed = gr.Number(value=0, precision=0, label="Seed of the random sample")
            preset = gr.Radio(list(PRESETS), value="upper body", label="Observed joints preset")
            groups = [gr.CheckboxGroup(list(joints), value=[j for j in joints if j in PRESETS["upper body"]], label=name)
                      for name, joints in LIMB_GROUPS.items()]  # fmt: skip
            steps = gr.Slider(10, 500, value=200, step=10, label="Steps")
            lr_x = gr.Number(value=0.1, label="X-space lr (Adam)")
            lr_z = gr.Number(value=0.05, label="Z-space lr (Adam)")
            hypotheses = gr.Slider(2, 16, value=6, step=1, label="Hypotheses (K)")
            with gr.Row():
                run_button = gr.Button("Run", variant="primary")
                hypotheses_button = gr.Button("Hypotheses")
                stop_button = gr.Button("Stop", interactive=False)
            status = gr.Markdown()
        with gr.Column(scale=3):
            with gr.Row():
                x_view, z_view = gr.Plot(label="X-space"), gr.Plot(label="Z-space (Θ)")
            chart = gr.Plot(label="loss")
            with gr.Row():
                x_mesh, z_mesh = gr.Model3D(label="X-space mesh"), gr.Model3D(label="Z-space mesh")
    target = gr.State([])
    parts = dict(model=model, source=source, frame=frame, seed=seed, preset=preset, steps=steps, lr_x=lr_x, lr_z=lr_z,
                 hypotheses=hypotheses, run_button=run_button, hypotheses_button=hypotheses_button, stop_button=stop_button,
                 status=status, x_view=x_view, z_view=z_view, chart=chart, x_mesh=x_mesh, z_mesh=z_mesh, target=target)  # fmt: skip
    _wire(parts, groups)
    return {**parts, "groups": groups}


def _wire(parts: dict, groups: list) -> None:
    controls = [parts["run_button"], parts["hypotheses_button"], parts["stop_button"], parts["model"], parts["source"]]
    outputs = [parts[name] for name in ("status", "x_view", "z_view", "chart", "x_mesh", "z_mesh")] + controls

    def pick_target(model, source, frame, seed):
        try:
            return {parts["target"]: target_pose(model, source, frame, seed), parts["status"]: ""}
        except (ValueError, FileNotFoundError) as error:
            return {parts["status"]: f"⚠ {error}"}

    def apply_preset(name):
        chosen = PRESETS[name]
        return {
            group: [joint for joint in joints if joint in chosen] for group, joints in zip(groups, LIMB_GROUPS.values())
        }

    target_inputs = [parts["model"], parts["source"], parts["frame"], parts["seed"]]
    for trigger in (parts["source"].change, parts["frame"].release, parts["seed"].change, parts["model"].change):
        trigger(pick_target, target_inputs, [parts["target"], parts["status"]])
    parts["preset"].change(apply_preset, parts["preset"], groups)
    run_inputs = [parts[name] for name in ("model", "source", "frame", "seed", "steps", "lr_x", "lr_z")] + groups

    def run(model, source, frame, seed, steps, lr_x, lr_z, g1, g2, g3, g4, g5, request: gr.Request = None):
        settings = dict(steps=steps, lr_x=lr_x, lr_z=lr_z, hypotheses=1)
        choice, joints = (source, frame, seed), [g1, g2, g3, g4, g5]
        yield from _stream(parts, controls, model, choice, joints, settings, session_id(request))

    def run_hypotheses(
        model, source, frame, seed, steps, lr_x, lr_z, g1, g2, g3, g4, g5, k, request: gr.Request = None
    ):
        settings = dict(steps=steps, lr_x=lr_x, lr_z=lr_z, hypotheses=k)
        choice, joints = (source, frame, seed), [g1, g2, g3, g4, g5]
        yield from _stream(parts, controls, model, choice, joints, settings, session_id(request))

    def stop(request: gr.Request = None) -> None:
        SESSIONS.stop(session_id(request))

    parts["run_button"].click(run, run_inputs, outputs)
    parts["hypotheses_button"].click(run_hypotheses, run_inputs + [parts["hypotheses"]], outputs)
    parts["stop_button"].click(stop, None, None)


def _controls(controls: list, *, running: bool) -> dict:
    return {
        component: gr.update(interactive=(running if index == 2 else not running))
        for index, component in enumerate(controls)
    }


def _stream(
    parts: dict, controls: list, model: str, choice: tuple, groups: list, settings: dict, key: str
) -> Iterator[dict]:
    try:
        stop = SESSIONS.start(key)
    except RunInProgress as error:
        yield {parts["status"]: f"⚠ {error}"}
        return
    message = "Done."
    yield {**_controls(controls, running=True), parts["status"]: "Starting…"}
    try:
        target = target_pose(model, *choice)
        yield from _optimise(parts, model, target, observed_joints(groups), settings, stop)
        message = "Stopped." if stop.is_set() else "Done."
    except ValueError as error:
        message = f"⚠ {error}"
    except Exception as error:  # shown and logged, so the page stays usable
        logger.exception("pose run failed")
        message = f"⚠ internal error: {error!r}"
    finally:
        SESSIONS.finish(key, stop)
    yield {**_controls(controls, running=False), parts["status"]: message}


def _optimise(parts: dict, model: str, target: list, observed: list[str], settings: dict, stop) -> Iterator[dict]:
    """Advance the X and Z runs together; yield views every ~0.4 s and meshes at the end."""
    device = device_outside_gpu_functions()
    forward = load_model(model, device)
    try:
        mapping = load_mapping(model, device)
    except (ValueError, FileNotFoundError) as error:
        raise ValueError(f"model {model!r} has no trained Θ, so Z-space cannot run: {error}") from error
    truth = torch.tensor([target], dtype=torch.float32)
    weight = joint_weight(
        [name for name in observed if name in BODY_JOINTS[: forward.output_shape[0] // 3]],
        BODY_JOINTS[: forward.output_shape[0] // 3],
    )
    k, steps = int(settings["hypotheses"]), int(settings["steps"])
    common = dict(
        weight=weight, steps=steps, num_hypotheses=k, z_init="random" if k > 1 else "zeros", keep_output=False
    )
    x_run = invert(forward, truth, lr=float(settings["lr_x"]), **common)
    z_run = invert(forward, truth, mapping=mapping, lr=float(settings["lr_z"]), **common)
    history: tuple[list, list] = ([], [])
    shown = 0.0
    for x_step, z_step in zip(x_run, z_run):
        history[0].append(float(x_step.losses.mean()))
        history[1].append(float(z_step.losses.mean()))
        last = x_step.index == steps or stop.is_set()
        if last or time.monotonic() - shown > REFRESH_SECONDS:
            shown = time.monotonic()
            with torch.no_grad():
                x_poses, z_poses = forward(x_step.x.to(device)).cpu(), forward(z_step.x.to(device)).cpu()
            x_view, z_view = views(model, x_poses, z_poses, target, observed)
            status = f"step {x_step.index}/{steps} · X {history[0][-1]:.5f} · Z {history[1][-1]:.5f}"
            yield {
                parts["x_view"]: x_view,
                parts["z_view"]: z_view,
                parts["chart"]: loss_figure(*history),
                parts["status"]: status,
            }
        if last:
            break
    yield {parts["x_mesh"]: mesh_file(model, x_poses[0]), parts["z_mesh"]: mesh_file(model, z_poses[0])}


build_tab = build_pose_tab
