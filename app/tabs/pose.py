"""The "3D pose" tab: pick a target pose and its observed joints, then complete the hidden joints
by inverting a pose prior in X-space and Z-space side by side.

Call :func:`build_pose_tab` inside an enclosing ``gr.Blocks``/``gr.Tab``. State holds plain
lists only; models are loaded once by :mod:`engines.models.registry`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import gradio as gr
import numpy as np
import torch

from app.figures import SPACE_COLOURS, SPACE_NAMES, X_COLOUR, Z_COLOUR, ZX_COLOUR, empty_loss_figure, loss_figure
from app.gpu import device_outside_gpu_functions
from app.learn_runs import chosen_mapping, theta_key
from app.media import image_file, media_file
from app.pose_figures import skeleton_figure, skeleton_png
from app.progress import on_strip, progress_strip
from app.runs import SPACES, DivergenceGuard, default_handoff, default_lrs, masked_pull, three_spaces
from app.session import SESSIONS, RunInProgress, session_id
from app.story import comparison, masked_comparison
from engines.core.evaluation import inversion_defaults
from engines.core.optim import invert_spaces
from engines.models.pose.fk import forward_kinematics
from engines.models.pose.mesh import glb_bytes
from engines.models.pose.skeleton import BODY_JOINTS, LIMB_GROUPS, PRESETS, joint_weight
from engines.models.registry import available_models, load_mapping, load_model

logger = logging.getLogger(__name__)
TITLE, ORDER = "3D pose", 20  # the tab after "Image inversion" (see app.ui.tab_modules)
INTRO = (
    "**Complete a body pose from a few joints.** Pick a CMU mocap clip and frame, say which joints are observed "
    "(a preset or the checkboxes); X, Z and Z→X each search the pose prior F for a whole body that fits them, "
    "and the hidden joints are compared with the clip's ground truth."
)
RANDOM_SAMPLE = "random prior sample"
REFRESH_SECONDS = 0.4  # the live still and the status
CHART_SECONDS = 1.2  # the loss chart (a plotly figure: heavier for the browser)
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples" / "poses"
SAMPLE_SUFFIX = " (bundled sample)"


@lru_cache(maxsize=1)
def bundled_samples() -> dict[str, str]:
    """Poses shipped with the app (a few frames of CMU test clips), so the tab works with no ``../shared``."""
    paths = sorted(SAMPLES_DIR.glob("*.json"), key=lambda path: (not path.stem.startswith("washwindow"), path.stem))
    return {f"{path.stem}{SAMPLE_SUFFIX}": str(path) for path in paths}  # washing a window first: arms at work


@lru_cache(maxsize=8)
def sample_poses(path: str) -> np.ndarray:
    """``N x 66`` poses of a bundled sample (see ``scripts/make_pose_samples.py``)."""
    return np.asarray(json.loads(Path(path).read_text())["frames"], dtype=np.float32)


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
    if source in bundled_samples():
        poses = sample_poses(bundled_samples()[source])
    elif source in test_clips():
        poses = clip_poses(test_clips()[source])
    else:
        latent = torch.randn(1, forward.input_dim, generator=torch.Generator().manual_seed(int(seed)))
        return forward(latent)[0].tolist()
    return poses[min(int(frame), len(poses) - 1)].tolist()


def clip_length(source: str) -> int | None:
    """How many frames the chosen clip has; None for a random prior sample."""
    if source in bundled_samples():
        return len(sample_poses(bundled_samples()[source]))
    if source in test_clips():
        return len(clip_poses(test_clips()[source]))
    return None


def frame_choice(source: str, frame: float) -> tuple[dict, str]:
    """The frame slider fitted to the clip (its maximum the clip's last frame, the value clamped into it) and a
    notice when the asked frame was past the end (never clamped silently)."""
    length = clip_length(source)
    if length is None:
        return gr.update(), ""
    last = length - 1
    notice = f"⚠ frame {int(frame)} is past the end of this {length}-frame clip: frame {last} is used. " if int(frame) > last else ""  # fmt: skip
    return gr.update(maximum=max(last, 1), value=min(int(frame), last)), notice


def observed_joints(groups: list[list[str]]) -> list[str]:
    return [name for group in groups for name in group]


def positions(model: str, poses: torch.Tensor) -> np.ndarray | None:
    skeleton = getattr(load_model(model), "skeleton", None)
    return None if skeleton is None else forward_kinematics(skeleton, poses).numpy()


def views(model: str, poses: tuple, target, observed: list[str]) -> tuple:
    """One 3D figure per space (X, Z, Z→X) of its ``K x D`` poses, with the target; Nones without a skeleton."""
    skeleton = getattr(load_model(model), "skeleton", None)
    if skeleton is None:
        return (None,) * len(poses)
    target_points = positions(model, torch.tensor([target]))[0]
    slots = [skeleton.names.index(name) for name in observed]
    titles = [title + hypotheses_note(model, space_poses, target, observed) for space_poses, title in zip(poses, SPACE_NAMES)]  # fmt: skip
    return tuple(
        skeleton_figure(skeleton, positions(model, space_poses), target_points, slots, colour=colour, title=title)
        for space_poses, colour, title in zip(poses, SPACE_COLOURS, titles)
    )


def hypotheses_note(model: str, poses: torch.Tensor, target: list, observed: list[str]) -> str:
    """A view's title note after Hypotheses (K > 1 skeletons overlaid): the K poses' spread on the hidden
    joints and the best of the K's hidden-joint error (the truth of every target of this tab is known)."""
    distances = hidden_joint_distances(model, poses, target, observed)
    spread = hidden_joint_spread(model, poses, observed)
    if len(poses) < 2 or distances is None or spread is None:
        return ""
    return f" · {len(poses)} hypotheses · hidden: spread {spread:.2f}, best error {float(distances.min()):.2f}"


def mesh_file(model: str, pose: torch.Tensor) -> str | None:
    forward = load_model(model)
    if getattr(forward, "skeleton", None) is not None:
        data = glb_bytes(forward.skeleton, forward_kinematics(forward.skeleton, pose[None])[0])
    elif getattr(forward, "smplx", None) is not None:
        from engines.models.pose.smplx_vposer import smplx_glb

        data = smplx_glb(forward.smplx, pose)
    else:
        return None
    return media_file(data, ".glb")  # content-named in the pruned media folder: meshes never pile up


def _opening_mesh(models: list[str], clips: list[str]) -> str | None:
    """The opening target's mesh (the first model's first clip, frame 0), or None when it cannot be made."""
    if not models or not clips:
        return None
    try:
        return mesh_file(models[0], torch.tensor(target_pose(models[0], clips[0], 0, 0), dtype=torch.float32))
    except (ValueError, FileNotFoundError) as error:
        logger.warning("the pose tab opens without a target mesh: %s", error)
        return None


def build_pose_tab() -> dict:
    """Create the tab's components and events in the current Blocks context; returns the components."""
    models = available_models("pose")
    clips = [*bundled_samples(), *test_clips()]
    gr.Markdown(INTRO, elem_id="pose-intro")
    with gr.Row():
        with gr.Column(scale=1):
            model = gr.Dropdown(models, value=models[0] if models else None, label="Pose prior F")
            source = gr.Dropdown([*clips, RANDOM_SAMPLE], value=clips[0] if clips else RANDOM_SAMPLE, label="Target")
            frame = gr.Slider(0, (clip_length(clips[0]) or 2001) - 1 if clips else 2000, value=0, step=1, label="Frame of the clip")  # fmt: skip
            seed = gr.Number(value=0, precision=0, label="Seed of the random sample")
            preset = gr.Radio(list(PRESETS), value="upper body", label="Observed joints preset")
            groups = [gr.CheckboxGroup(list(joints), value=[j for j in joints if j in PRESETS["upper body"]], label=name)
                      for name, joints in LIMB_GROUPS.items()]  # fmt: skip
            steps = gr.Slider(10, 500, value=200, step=10, label="Steps", elem_id="pose-steps")
            lr_x = gr.Number(
                value=default_lrs(models[0] if models else "", "adam")[0],
                label="X-space lr (Adam; Z→X after the hand-off too)", step=0.01,
            )  # fmt: skip
            lr_z = gr.Number(value=default_lrs(models[0] if models else "", "adam")[1], label="Z-space lr (Adam)", step=0.01)  # fmt: skip
            hypotheses = gr.Slider(2, 16, value=6, step=1, label="Hypotheses (K)")
            with gr.Accordion("Advanced settings", open=False):
                handoff = gr.Slider(0, 50, value=default_handoff(models[0] if models else ""), step=1,
                                    label="Z→X hand-off step k", elem_id="pose-handoff")  # fmt: skip
        with gr.Column(scale=3):
            with gr.Row():  # above the fold, with the result sentence
                run_button = gr.Button("Run", variant="primary", elem_id="pose-run")
                hypotheses_button = gr.Button("Hypotheses")
                stop_button = gr.Button("Stop", variant="stop", interactive=False)
            status = gr.Markdown(elem_id="pose-status")
            progress = progress_strip("pose-progress")
            live = gr.Image(label="Live: X, Z and Z→X (the 3D views below follow at the end)", interactive=False,
                            height=260, format="png", elem_id="pose-live")  # fmt: skip
            chart = gr.Plot(empty_loss_figure(), label="loss", elem_id="pose-chart")  # Plotly loads with the page
            with gr.Row():
                x_view, z_view, zx_view = (gr.Plot(label=name, elem_id=f"pose-{key}-view")
                                           for name, key in zip(SPACE_NAMES, ("x", "z", "zx")))  # fmt: skip
            with gr.Row():  # the target's mesh from the start: the 3D viewer is loaded before the results come
                target_mesh = gr.Model3D(_opening_mesh(models, clips), label="Target mesh (ground truth)", elem_id="pose-target-mesh", height=240)  # fmt: skip
                x_mesh, z_mesh, zx_mesh = (gr.Model3D(label=f"{name} mesh", elem_id=f"pose-{key}-mesh", height=240)
                                           for name, key in zip(("X-space", "Z-space", "Z→X"), ("x", "z", "zx")))  # fmt: skip
    target = gr.State([])
    parts = dict(model=model, source=source, frame=frame, seed=seed, preset=preset, steps=steps, lr_x=lr_x, lr_z=lr_z,
                 hypotheses=hypotheses, run_button=run_button, hypotheses_button=hypotheses_button, stop_button=stop_button,
                 status=status, x_view=x_view, z_view=z_view, chart=chart, x_mesh=x_mesh, z_mesh=z_mesh, target=target,
                 live=live, zx_view=zx_view, zx_mesh=zx_mesh, handoff=handoff, target_mesh=target_mesh,
                 progress=progress)  # fmt: skip
    _wire(parts, groups)
    return {**parts, "groups": groups}


def _wire(parts: dict, groups: list) -> None:
    controls = [parts["run_button"], parts["hypotheses_button"], parts["stop_button"], parts["model"], parts["source"]]
    results = ("status", "x_view", "z_view", "zx_view", "chart", "x_mesh", "z_mesh", "zx_mesh", "live")
    outputs = [parts[name] for name in results] + controls

    def pick_target(model, source, frame, seed):
        try:
            pose = target_pose(model, source, frame, seed)
            mesh = mesh_file(model, torch.tensor(pose, dtype=torch.float32))
            slider, notice = frame_choice(source, frame)
            update = {parts["target"]: pose, parts["target_mesh"]: mesh, parts["frame"]: slider, **cleared(parts)}
            return update | ({parts["status"]: notice + "Ready: a new target. Press Run."} if notice else {})
        except (ValueError, FileNotFoundError) as error:
            return {parts["status"]: f"⚠ {error}"}

    def apply_preset(name):
        chosen = PRESETS[name]
        return {
            group: [joint for joint in joints if joint in chosen] for group, joints in zip(groups, LIMB_GROUPS.values())
        }

    target_inputs = [parts["model"], parts["source"], parts["frame"], parts["seed"]]
    cleared_outputs = [parts["target"], parts["target_mesh"], parts["frame"], *(parts[name] for name in results if name != "live"), parts["live"]]  # fmt: skip
    for trigger in (parts["source"].change, parts["frame"].release, parts["seed"].change, parts["model"].change):
        trigger(pick_target, target_inputs, cleared_outputs, api_name=False)  # a new target clears the old results
    parts["preset"].change(apply_preset, parts["preset"], groups, api_name=False)
    parts["model"].change(default_handoff, parts["model"], parts["handoff"], api_name=False)
    run_inputs = [parts[name] for name in ("model", "source", "frame", "seed", "steps", "lr_x", "lr_z")] + groups

    def run(model, source, frame, seed, steps, lr_x, lr_z, g1, g2, g3, g4, g5, handoff=None, request: gr.Request = None):  # fmt: skip
        settings = dict(steps=steps, lr_x=lr_x, lr_z=lr_z, hypotheses=1, handoff=handoff)
        choice, joints = (source, frame, seed), [g1, g2, g3, g4, g5]
        yield from _stream(parts, controls, model, choice, joints, settings, session_id(request))

    def run_hypotheses(
        model, source, frame, seed, steps, lr_x, lr_z, g1, g2, g3, g4, g5, k, handoff=None, request: gr.Request = None
    ):
        settings = dict(steps=steps, lr_x=lr_x, lr_z=lr_z, hypotheses=k, handoff=handoff)
        choice, joints = (source, frame, seed), [g1, g2, g3, g4, g5]
        yield from _stream(parts, controls, model, choice, joints, settings, session_id(request))

    def stop(request: gr.Request = None) -> None:
        SESSIONS.stop(session_id(request))

    shown = on_strip(parts["progress"])  # the queue place while waiting, then the elapsed time
    parts["run_button"].click(run, run_inputs + [parts["handoff"]], outputs, api_name=False, **shown)
    hypotheses_inputs = run_inputs + [parts["hypotheses"], parts["handoff"]]
    parts["hypotheses_button"].click(run_hypotheses, hypotheses_inputs, outputs, api_name=False, **shown)
    parts["stop_button"].click(stop, None, None, api_name=False)


def cleared(parts: dict) -> dict:
    """Every result of the previous run emptied, so nothing old sits beside a new target."""
    empty = {parts[name]: None for name in ("x_view", "z_view", "zx_view", "x_mesh", "z_mesh", "zx_mesh", "live")}
    return {**empty, parts["chart"]: empty_loss_figure(), parts["status"]: "Ready: a new target. Press Run."}


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
    settings = {**settings, "theta": theta_key(key, model)}  # a Θ this session learned or loaded, else ""
    try:
        target = target_pose(model, *choice)
        outcome: dict = {}
        yield from _optimise(parts, model, target, observed_joints(groups), settings, stop, outcome)
        message = outcome.get("message") or ("Stopped." if stop.is_set() else "Done.")
        message = "  \n".join(line for line in (message, outcome.get("story", "")) if line)
    except ValueError as error:
        message = f"⚠ {error}"
    except Exception as error:  # shown and logged, so the page stays usable
        logger.exception("pose run failed")
        message = f"⚠ internal error: {error!r}"
    finally:
        SESSIONS.finish(key, stop)
    yield {**_controls(controls, running=False), parts["status"]: message}


def _runs(model: str, target: list, observed: list[str], settings: dict, device) -> tuple:
    """The forward model and the X, Z and Z→X steps of one pose run (one batch of F per step)."""
    forward = load_model(model, device)
    try:
        chosen = chosen_mapping(settings.get("theta", ""), model, device)  # this session's own Θ (Learn Θ tab)
        mapping = chosen[0] if chosen else load_mapping(model, device)
    except (ValueError, FileNotFoundError) as error:
        raise ValueError(f"model {model!r} has no trained Θ, so Z-space cannot run: {error}") from error
    joints = BODY_JOINTS[: forward.output_shape[0] // 3]
    weight = joint_weight([name for name in observed if name in joints], joints)
    k, steps = int(settings["hypotheses"]), int(settings["steps"])
    lr_x, lr_z, handoff = _checked(settings, model, masked=bool((weight == 0).any()))
    spaces = three_spaces(mapping, lr_x, lr_z, handoff, masked_pull(model, "adam", weight))
    common = dict(weight=weight, steps=steps, num_hypotheses=k, z_init="random" if k > 1 else "zeros", keep_output=False)  # fmt: skip
    return forward, invert_spaces(forward, torch.tensor([target], dtype=torch.float32), spaces, **common)


def _checked(settings: dict, model: str, masked: bool = False) -> tuple[float, float, int]:
    """The X and Z learning rates and the hand-off step of ``settings`` (the model's default hand-off when
    None or asked for: for a ``masked`` target, its masked rule), or a ``ValueError`` that says which one is
    unusable."""
    rates = []
    for name in ("lr_x", "lr_z"):
        value = settings[name]
        if not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
            raise ValueError(f"the {name[-1].upper()}-space learning rate must be a positive number, got {value!r}")
        rates.append(float(value))
    handoff = settings.get("handoff")
    if handoff is None or handoff == default_handoff(model):
        handoff = inversion_defaults(model).handoff_for(masked=masked, steps=int(settings["steps"]))
    if not (isinstance(handoff, (int, float)) and float(handoff).is_integer() and handoff >= 0):
        raise ValueError(f"the hand-off step must be a whole number >= 0, got {handoff!r}")
    return rates[0], rates[1], int(handoff)


def hidden_joint_distances(model: str, poses: torch.Tensor, target: list, observed: list[str]) -> np.ndarray | None:
    """``K``: per pose of ``K x D``, the mean distance (skeleton units) of its hidden joints to the target's;
    None without a skeleton or with nothing hidden."""
    skeleton = getattr(load_model(model), "skeleton", None)
    if skeleton is None:
        return None
    hidden = [slot for slot, name in enumerate(skeleton.names) if name in BODY_JOINTS and name not in observed]
    if not hidden:
        return None
    estimate, truth = positions(model, poses)[:, hidden], positions(model, torch.tensor([target]))[:, hidden]
    return np.linalg.norm(estimate - truth, axis=-1).mean(axis=1)


def hidden_joint_error(model: str, poses: torch.Tensor, target: list, observed: list[str]) -> float | None:
    """Mean distance (skeleton units) of the hidden joints of ``K x D`` poses to the target's; None if no skeleton."""
    distances = hidden_joint_distances(model, poses, target, observed)
    return None if distances is None else float(distances.mean())


def hidden_joint_spread(model: str, poses: torch.Tensor, observed: list[str]) -> float | None:
    """How far apart the ``K`` poses put the hidden joints: the mean over hidden joints of the RMS distance
    to their centroid (skeleton units); None without a skeleton or with nothing hidden."""
    skeleton = getattr(load_model(model), "skeleton", None)
    if skeleton is None or len(poses) < 2:
        return None
    hidden = [slot for slot, name in enumerate(skeleton.names) if name in BODY_JOINTS and name not in observed]
    if not hidden:
        return None
    points = positions(model, poses)[:, hidden]  # K x J x 3
    return float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(-1).mean(0)).mean())


def _summary(model: str, history: tuple, poses: tuple, target: list, observed: list[str]) -> str:
    """The story line of a finished pose run: the hidden joints first (each space's best of its K poses
    against the ground truth, the truth of every target here being known), then the visible fit."""
    distances = [hidden_joint_distances(model, space_poses, target, observed) for space_poses in poses]
    if any(distance is None for distance in distances):
        return comparison(*history)
    errors = {space: float(distance.min()) for space, distance in zip(SPACES, distances)}
    k = len(poses[0])
    diversity = {space: hidden_joint_spread(model, space_poses, observed) for space, space_poses in zip(SPACES, poses)} if k > 1 else None  # fmt: skip
    height = np.ptp(positions(model, torch.tensor([target]))[0][:, 1])
    part = "the hidden joints" + (f", best of {k} hypotheses" if k > 1 else "")
    unit = f"units (mean joint distance; the figure is {height:.0f} tall)"
    return masked_comparison(history, hidden_errors=errors, part=part, diversity=diversity, unit=unit)


def _optimise(parts: dict, model: str, target: list, observed: list[str], settings: dict, stop, outcome: dict) -> Iterator[dict]:  # fmt: skip
    """Advance X, Z and Z→X together: a light still and the status every ~0.4 s, the loss chart every
    ~1.2 s, the 3D views and meshes at the end. ``outcome`` receives the closing message and story."""
    device = device_outside_gpu_functions()
    forward, runs = _runs(model, target, observed, settings, device)
    steps, guard = int(settings["steps"]), DivergenceGuard(SPACES)
    handoff = _checked(settings, model, masked=bool(set(BODY_JOINTS[: forward.output_shape[0] // 3]) - set(observed)))[
        2
    ]
    history: tuple[list, ...] = ([], [], [])
    shown, charted, last = 0.0, 0.0, None
    for triple in runs:
        if message := guard.check(triple):
            if last is None:
                raise ValueError(message)
            outcome["message"] = message
            break
        last = triple
        for curve, step in zip(history, triple):
            curve.append(float(step.losses.mean()))
        if triple[0].index == steps or stop.is_set():
            break
        if time.monotonic() - shown > REFRESH_SECONDS:
            shown = time.monotonic()
            update = _live(parts, model, forward, triple, target, device, history, steps)
            if shown - charted > CHART_SECONDS:
                charted, update[parts["chart"]] = shown, loss_figure(*history, handoff=handoff)
            yield update
    if last is None:
        return
    with torch.no_grad():
        poses = tuple(forward(step.x.to(device)).cpu() for step in last)
    outcome["story"] = _summary(model, history, poses, target, observed)
    if handoff >= steps:  # the masked rule (or the visitor) kept Z→X in Z-space
        outcome["story"] += " Z→X stayed in Z-space (no hand-off), the default when joints are hidden."
    shown_views = dict(zip((parts["x_view"], parts["z_view"], parts["zx_view"]), views(model, poses, target, observed)))
    meshes = {parts[name]: mesh_file(model, space_poses[0]) for name, space_poses in zip(("x_mesh", "z_mesh", "zx_mesh"), poses)}  # fmt: skip
    yield {**_live(parts, model, forward, last, target, device, history, steps), **meshes}  # first: they load slowest
    yield {**shown_views, parts["chart"]: loss_figure(*history, handoff=handoff)}


def _live(parts: dict, model: str, forward, steps_now: tuple, target: list, device, history: tuple, steps: int) -> dict:
    """The status and, with a skeleton, the live still of one X, Z, Z→X step."""
    losses = " · ".join(f"{space} {curve[-1]:.5f}" for space, curve in zip(SPACES, history))
    update = {parts["status"]: f"Running · step {steps_now[0].index}/{steps} · {losses}"}
    skeleton = getattr(forward, "skeleton", None)
    if skeleton is not None:
        with torch.no_grad():
            points = [positions(model, forward(step.x.to(device)).cpu()) for step in steps_now]
        target_points = positions(model, torch.tensor([target]))[0]
        names = ("X-space", "Z-space", "Z→X")  # the still's font may have no Θ
        panes = list(zip(names, points, (X_COLOUR, Z_COLOUR, ZX_COLOUR)))
        update[parts["live"]] = image_file(skeleton_png(skeleton, panes, target_points))
    return update


build_tab = build_pose_tab
