"""What the API endpoints compute, from plain inputs to final images and a dict of numbers.

:mod:`app.api` wires these to the ``/invert``, ``/pose``, ``/project`` and ``/defend`` endpoints; no
components or events here (the pose and defense tabs' target helpers are borrowed). Each function runs to the end in one call and returns PIL images plus JSON-ready numbers:
the per-step losses of every optimiser and one summary sentence. Bad input raises ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from app.domain import domain_notice, target_has_face
from app.figures import SPACE_COLOURS
from app.gpu import gpu
from app.runs import (
    LAST_STAGE,
    MAX_STEPS,
    NOT_REFINED,
    DivergenceGuard,
    get_mapping,
    has_final_stage,
    hidden_figures,
    last_stage_result,
    masked_pull,
    refines,
    three_spaces,
    verdict,
)
from app.story import masked_comparison
from app.targets import Target, aligns_faces, fingerprint
from engines.core.device import default_device
from engines.core.evaluation import inversion_defaults
from engines.core.losses import LOSSES, resolve_loss_name
from engines.core.optim import OPTIMIZERS, invert_spaces
from engines.io.images import prepare_image, tensor_to_image
from engines.io.masks import preset_known
from engines.models.registry import available_models, load_model

LABELS = ("X", "Z", "Z→X")
KEYS = ("x", "z", "zx")  # the same three optimisers as JSON keys
EARLY_STEP = 20  # the speed comparison: who first reaches X's loss at this step
LEVEL = 0.01  # final losses within 1% count as level
PANE_COLOURS = SPACE_COLOURS  # X, Z, Z→X in the pose still: the page's colours (green is the target's)
PROJECTION_SPACES = ("x", "z")


def _check_whole(name: str, value, low: int, high: int) -> int:
    if not (isinstance(value, (int, float)) and float(value).is_integer() and low <= value <= high):
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return int(value)


def _learning_rate(name: str, value: float | None, default: float) -> float:
    """``value``, or ``default`` when it is None or 0 (the API's "model default")."""
    if value is None or value == 0:
        return float(default)
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number (0 = the model's default), got {value!r}")
    return float(value)


def hidden_pixels(mask: str | Path | Image.Image | None, size: int) -> torch.Tensor:
    """``S x S`` bool: the pixels a mask image hides from the loss (None: none hidden).

    A mask with transparent pixels hides what is painted (alpha > 0), as the editor does; an opaque
    mask hides its light pixels (grey > 127): white = hidden, black = known.
    """
    if mask is None:
        return torch.zeros(size, size, dtype=torch.bool)
    image = Image.open(mask) if isinstance(mask, (str, Path)) else mask
    image = image.convert("RGBA") if image.mode in ("P", "LA", "PA") else image
    if "A" in image.getbands() and image.getchannel("A").getextrema()[0] < 255:
        channel = image.getchannel("A").point(lambda value: 255 if value > 0 else 0)
    else:
        channel = image.convert("L").point(lambda value: 255 if value > 127 else 0)
    channel = channel.resize((size, size), Image.Resampling.BOX)
    return torch.from_numpy(np.asarray(channel, np.float32) >= 127.5)


def image_target(image: str | Path | Image.Image, mask, preset: str, size: int) -> Target:
    """A target from an image (a path or PIL image, centre-cropped and resized to ``size``) and a mask.

    The hidden pixels' truth counts as known (the verdict scores them) only for a preset on a whole image:
    a mask of the client's, or transparent pixels in the image, make it unknown (``Target.unknown_truth``)."""
    prepared = prepare_image(image, size)
    painted = hidden_pixels(mask, size)
    preset_region = preset_known(preset, size)
    known = preset_region * (~painted).float()
    if known.sum() == 0:
        raise ValueError("the mask hides everything: at least one pixel must stay known")
    rgb = tensor_to_image(prepared.tensor)
    unknown = "pixels hidden by your mask" if bool((painted & (preset_region == 1)).any()) else ""
    unknown = "transparent pixels in the image" if _has_transparency(image) else unknown
    return Target(image=prepared.tensor[None].contiguous(), weight=known[None, None], fingerprint=fingerprint(rgb), unknown_truth=unknown)  # fmt: skip


def page_target(image: str | Path | Image.Image, mask, preset: str, model: str, size: int, *, align: bool = True) -> tuple[Target, str]:  # fmt: skip
    """The target the image tab would make of an upload, and the tab's notice about it (without markup): the
    face aligned for a face model (``align``), pixels beyond the photo or transparent hidden, the preset and
    the ``mask`` (:func:`hidden_pixels`) hidden too. Hidden pixels other than a preset's have no known truth
    (``Target.unknown_truth``): the verdict then reports the visible fit only."""
    from app.targets import build_target, load_target

    value, notice = load_target(image, size, align=bool(align) and aligns_faces(model), model=model)
    target = build_target(value, preset, size)
    masked = hidden_pixels(mask, size)
    weight = target.weight * (~masked).float()
    if weight.sum() == 0:
        raise ValueError("the mask hides everything: at least one pixel must stay known")
    unknown = target.unknown_truth or ("pixels hidden by your mask" if bool((masked & (target.weight[0, 0] > 0)).any()) else "")  # fmt: skip
    return Target(image=target.image, weight=weight, fingerprint=target.fingerprint, unknown_truth=unknown), notice.replace("**", "")  # fmt: skip


def _has_transparency(image: str | Path | Image.Image) -> bool:
    opened = Image.open(image) if isinstance(image, (str, Path)) else image
    if opened.mode in ("P", "LA", "PA") or "transparency" in opened.info:
        opened = opened.convert("RGBA")
    return "A" in opened.getbands() and opened.getchannel("A").getextrema()[0] < 255


def summary(curves: dict[str, Sequence[float]]) -> str:
    """One sentence on the curves of X, Z and Z→X (keys :data:`LABELS`, one loss per step, step 0 first):
    who first reached X's early loss, then how each ends against X."""
    x = curves["X"]
    if not x or not all(curves[name] and math.isfinite(curves[name][-1]) for name in LABELS):
        return ""
    last = len(x) - 1
    finals = ", ".join(f"{name} {curves[name][-1]:.4g}" for name in LABELS)
    against = []
    for name in ("Z→X", "Z"):
        change = curves[name][-1] / x[-1] - 1 if x[-1] > 0 else 0.0
        word = "level with" if abs(change) <= LEVEL else ("below" if change < 0 else "above")
        against.append(f"{name} {abs(100 * change):.0f}% {word} X" if word != "level with" else f"{name} level with X")
    sentence = f"At step {last}: {finals}; {', '.join(against)}."
    early = min(EARLY_STEP, last)
    reached = {name: next((step for step, loss in enumerate(curves[name]) if loss <= x[early]), None) for name in ("Z", "Z→X")}  # fmt: skip
    fastest = min((step, name) for name, step in reached.items() if step is not None) if any(s is not None for s in reached.values()) else None  # fmt: skip
    if fastest is not None and 0 < fastest[0] < early:
        step, name = fastest
        sentence += f" {name} reached X's step-{early} loss at step {step} ({early / step:.1f}× fewer steps)."
    return sentence


def _check_image_settings(model: str, steps, optimizer: str, loss: str, handoff) -> tuple[int, int, str]:
    if model not in available_models("image"):
        raise ValueError(f"model {model!r} is not available; present: {available_models('image')}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimiser {optimizer!r}; choose from {OPTIMIZERS}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose from {sorted(LOSSES)}")
    steps = _check_whole("steps", steps, 1, MAX_STEPS)
    return steps, _check_whole("handoff", handoff, 0, MAX_STEPS), resolve_loss_name(loss)


@gpu
def invert_image(
    image,
    mask=None,
    *,
    model: str = "faces64",
    preset: str = "none",
    steps: int = 200,
    optimizer: str = "adam",
    loss: str = "mse+lpips",
    lr_x: float | None = None,
    lr_z: float | None = None,
    handoff: int | None = None,
    seed: int = 0,
    align: bool = True,
    refine: bool = False,
) -> tuple[list[Image.Image | None], dict]:
    """Invert one image with X, Z and Z→X to the end, as the image tab does (:func:`page_target`: a face
    aligned, unknown pixels hidden); returns the final images (X, Z, Z→X and, with ``refine`` on a face model,
    the last stage's, else None) and the numbers, whose ``notes`` are the tab's notices: what was done to the
    image, Θ, and whether the target looks like what the model knows."""
    defaults = inversion_defaults(model, optimizer)  # chosen on training data, saved beside Θ
    asked = handoff
    handoff = defaults.handoff if handoff is None or handoff == -1 else handoff
    steps, handoff, loss_name = _check_image_settings(model, steps, optimizer, loss, handoff)
    lr_x = _learning_rate("lr_x", lr_x, defaults.x_lr)
    lr_z = _learning_rate("lr_z", lr_z, defaults.z_lr)
    device = default_device()
    forward = load_model(model, device)
    target, loaded = page_target(image, mask, preset, model, int(forward.output_shape[-1]), align=align)
    if asked is None or asked == -1:  # the default: for a masked target, the model's masked rule
        handoff = defaults.handoff_for(masked=bool((target.weight == 0).any()), steps=steps)
    mapping, note = get_mapping(model, device)
    runs = invert_spaces(
        forward, target.image, three_spaces(mapping, lr_x, lr_z, handoff, masked_pull(model, optimizer, target.weight)), weight=target.weight, loss=loss_name,
        optimizer=optimizer, steps=steps, seed=int(seed), keep_output=True, keep_on_device=True,
    )  # fmt: skip
    if not isinstance(refine, bool):
        raise ValueError(f"refine must be true or false, got {refine!r}")
    face = refine and has_final_stage(model) and refines(target)
    split, last_steps = LAST_STAGE.split(steps) if face else (steps, 0)
    branch: dict[str, torch.Tensor] = {}
    curves, last, message = _follow(_branching(runs, split, branch))
    outputs = torch.stack([step.output for step in last])
    story = message or verdict(target, tuple(curves), outputs, k=1, visible=summary(dict(zip(LABELS, curves))))
    face = target_has_face(model, target.image, target.weight)
    judged = domain_notice(model, loss_name, last[0].index, curves[0][-1], min(curves[1][-1], curves[2][-1]), face=face)  # fmt: skip
    lpips = "⚠ LPIPS is unavailable offline: using pixel MSE" if loss_name != loss else ""
    notes = [text for text in (loaded, note, lpips, judged) if text]
    numbers = {
        "model": model, "steps": last[0].index, "optimizer": optimizer, "loss": loss_name, "seed": int(seed),
        "handoff_step": handoff, "lr": {"x": lr_x, "z": lr_z, "zx_after_handoff": lr_x},
        "target": {"fingerprint": target.fingerprint, "known_fraction": round(float(target.weight.mean()), 4)},
        "losses": dict(zip(KEYS, curves)), "final_loss": {key: curve[-1] for key, curve in zip(KEYS, curves)},
        "summary": story, "notes": notes, "hidden_error": hidden_figures(target, outputs),
    }  # fmt: skip
    images = [tensor_to_image(step.output[0].cpu()) for step in last]
    final = None
    if last_steps and "zx" in branch and not message:  # as the page's "Refine past the generator"
        final = last_stage_result(target, model, branch["zx"], loss_name, last_steps, split)
        numbers["final"] = {"from_step": split, "steps": last_steps, "losses": list(final.curve), "final_loss": final.loss}  # fmt: skip
    elif refine:
        numbers["notes"].append(_not_refined(model, face))
    return [*images, None if final is None else final.image], numbers


def _not_refined(model: str, face: bool) -> str:
    """Why ``refine`` left no refined image."""
    if not has_final_stage(model):
        return "Refine past the generator: it runs on the faces64 model only"
    if not face:
        return NOT_REFINED
    return "Refine past the generator: no steps left for it (too few steps, or a diverged run)"


def _branching(runs, split: int, branch: dict):
    """``runs`` unchanged, keeping the best Z→X input at step ``split`` in ``branch["zx"]`` (``1 x D``)."""
    for steps in runs:
        if steps[2].index == split:
            branch["zx"] = steps[2].x[int(steps[2].losses.argmin())][None].detach()
        yield steps


def _follow(runs) -> tuple[list[list[float]], tuple, str]:
    """Run the steps of :func:`invert_spaces` to the end or to a divergence: each space's best loss per
    step, the last sound steps and the divergence message ("" when none)."""
    curves: list[list[float]] = [[] for _ in LABELS]
    guard, last = DivergenceGuard(LABELS), None
    for steps in runs:
        if message := guard.check(steps):
            if last is None:
                raise ValueError(message)
            return curves, last, message
        last = steps
        for curve, step in zip(curves, steps):
            curve.append(float(step.losses.min()))
    return curves, last, ""


def pose_target(model: str, sample: str, frame: int, seed: int) -> list[float]:
    """A target pose: frame ``frame`` of a bundled sample or test clip, or a seeded sample of the prior."""
    from app.tabs.pose import RANDOM_SAMPLE, bundled_samples, clip_poses, sample_poses, target_pose, test_clips

    if sample in bundled_samples() or sample in test_clips():
        poses = sample_poses(bundled_samples()[sample]) if sample in bundled_samples() else clip_poses(test_clips()[sample])  # fmt: skip
        _check_whole("frame", frame, 0, len(poses) - 1)
    elif sample != RANDOM_SAMPLE:
        raise ValueError(f"unknown pose sample {sample!r}; choose from {[*bundled_samples(), RANDOM_SAMPLE]}")
    return target_pose(model, sample, frame, seed)


@gpu
def complete_pose(
    sample: str,
    *,
    model: str = "pose32",
    frame: int = 0,
    seed: int = 0,
    observed: str = "upper body",
    steps: int = 200,
    lr_x: float | None = None,
    lr_z: float | None = None,
    handoff: int | None = None,
) -> tuple[Image.Image | None, dict]:
    """Complete the hidden joints of a pose with X, Z and Z→X; a still of the three and the numbers."""
    from app.pose_figures import skeleton_png
    from app.tabs.pose import hidden_joint_error, positions
    from engines.models.pose.skeleton import BODY_JOINTS, PRESETS, joint_weight

    if model not in available_models("pose"):
        raise ValueError(f"model {model!r} is not available; present: {available_models('pose')}")
    if observed not in PRESETS:
        raise ValueError(f"unknown observed-joints preset {observed!r}; choose from {list(PRESETS)}")
    steps = _check_whole("steps", steps, 1, MAX_STEPS)
    defaults = inversion_defaults(model, "adam")  # chosen on training clips, saved beside Θ
    masked = bool(set(PRESETS["all"]) - set(PRESETS[observed]))
    default = defaults.handoff_for(masked=masked, steps=steps)  # for a masked target: the model's masked rule
    handoff = _check_whole("handoff", default if handoff is None or handoff == -1 else handoff, 0, MAX_STEPS)
    lr_x, lr_z = _learning_rate("lr_x", lr_x, defaults.x_lr), _learning_rate("lr_z", lr_z, defaults.z_lr)
    target = pose_target(model, sample, frame, seed)
    device = default_device()
    forward = load_model(model, device)
    mapping, note = get_mapping(model, device)
    joints = BODY_JOINTS[: forward.output_shape[0] // 3]
    weight = joint_weight([name for name in PRESETS[observed] if name in joints], joints)
    runs = invert_spaces(forward, torch.tensor([target]), three_spaces(mapping, lr_x, lr_z, handoff, masked_pull(model, "adam", weight)), weight=weight, steps=steps, keep_output=False)  # fmt: skip
    curves, last, message = _follow(runs)
    with torch.no_grad():
        poses = [forward(step.x.to(device)).cpu() for step in last]
    errors = [hidden_joint_error(model, pose, target, list(PRESETS[observed])) for pose in poses]
    story = message or summary(dict(zip(LABELS, curves)))
    if None not in errors and not message:  # the truth of every pose here is known: the hidden joints lead
        part = "the hidden joints"
        story = masked_comparison(tuple(curves), hidden_errors=dict(zip(LABELS, errors)), part=part, unit="units (mean joint distance)", visible=story)  # fmt: skip
    numbers = {
        "model": model, "sample": sample, "frame": int(frame), "observed": observed, "steps": last[0].index,
        "handoff_step": handoff, "lr": {"x": lr_x, "z": lr_z, "zx_after_handoff": lr_x},
        "losses": dict(zip(KEYS, curves)), "final_loss": {key: curve[-1] for key, curve in zip(KEYS, curves)},
        "hidden_joint_error": dict(zip(KEYS, errors)), "poses": {key: pose[0].tolist() for key, pose in zip(KEYS, poses)},
        "target_pose": target, "summary": story, "notes": [note] if note else [],
    }  # fmt: skip
    skeleton = getattr(forward, "skeleton", None)
    if skeleton is None:
        return None, numbers
    panes = [(name.replace("→", " to "), positions(model, pose), colour) for name, pose, colour in zip(LABELS, poses, PANE_COLOURS)]  # fmt: skip
    return skeleton_png(skeleton, panes, positions(model, torch.tensor([target]))[0]), numbers


def project_image(
    image,
    mask=None,
    *,
    model: str = "digits",
    method: str = "basincma",
    space: str = "both",
    transform: bool = True,
    label: int = -1,
    budget: int = 600,
    population: int = 8,
    seed: int = 0,
) -> tuple[list[Image.Image | None], dict]:
    """Project an image (pix2latent) in X, in Z or in both; the best generations and the numbers.

    mask: light pixels mark the object (its box is the object mask); None: the box of what differs from
    the border. label: the class to start from, -1 = the model's classifier decides.
    """
    from app.projection_runs import ProjectionSettings, device_projection, image_size, object_mask, projection_summary

    spaces = {"both": ("x", "z"), "x": ("x",), "z": ("z",)}.get(space)
    if spaces is None:
        raise ValueError(f"space must be 'x', 'z' or 'both', got {space!r}")
    size = image_size(model)
    target = image_target(image, mask, "none", size)
    region = object_mask(target.weight, target.image)
    images, numbers = [None, None], {"model": model, "method": method, "budget": int(budget), "spaces": {}}
    for name in spaces:
        settings = ProjectionSettings(
            model=model, method=method, space=name, transform="spatial+color" if transform else "none",
            label=None if label is None or int(label) < 0 else int(label), budget=_check_whole("budget", budget, 2, 10**6),
            population=_check_whole("population", population, 2, 10**3), seed=int(seed),
        )  # fmt: skip
        best, frame = [], None  # best-so-far of the search, scored against the original target like the final loss
        for frame in device_projection(target.image, region, settings, refresh_seconds=math.inf):
            if not frame.done:
                best.append(min(frame.best_loss, best[-1]) if best else frame.best_loss)
        images[PROJECTION_SPACES.index(name)] = frame.best
        numbers["spaces"][name] = {
            "best_search_loss_per_step": best, "final_loss": frame.best_loss, "evaluations": frame.evaluations,
            "transform": {"sx_sy_tx_ty_gamma": list(frame.transform), "text": frame.transform_note},
            "class": frame.class_path[-1][1] if frame.class_path else settings.label,
            "class_path": [{"forward_passes": passes, "class": label} for passes, label in frame.class_path],
        }  # fmt: skip
    numbers["summary"] = projection_summary(numbers["spaces"], int(budget))
    return images, numbers


def edit_image(
    image,
    mask=None,
    *,
    model: str = "digits",
    method: str = "basincma",
    space: str = "x",
    transform: bool = True,
    label: int = -1,
    budget: int = 600,
    population: int = 8,
    seed: int = 0,
    target_class: int = -1,
    strength: float = 1.0,
    shift_x: float = 0.0,
    shift_y: float = 0.0,
    zoom: float = 0.0,
    fine_tune_steps: int = 0,
) -> tuple[list[Image.Image], dict]:
    """Project an image (as :func:`project_image`, one space), optionally fine-tune a copy of G on it, then edit it
    (class ``target_class`` at ``strength``, -1 = keep; shift / zoom along the model's directions) and put the
    edit back: (the edited object, the image with the edit put back) and the numbers."""
    from app.edits import EditSettings, edit_images
    from app.projection_runs import ProjectionSettings, device_fine_tune, device_projection, image_size, object_mask

    if space not in PROJECTION_SPACES:
        raise ValueError(f"space must be 'x' or 'z', got {space!r}")
    target = image_target(image, mask, "none", image_size(model))
    settings = ProjectionSettings(
        model=model, method=method, space=space, transform="spatial+color" if transform else "none",
        label=None if label is None or int(label) < 0 else int(label), budget=_check_whole("budget", budget, 2, 10**6),
        population=_check_whole("population", population, 2, 10**3), seed=int(seed),
    )  # fmt: skip
    frame = None
    for frame in device_projection(target.image, object_mask(target.weight, target.image), settings, refresh_seconds=math.inf):  # fmt: skip
        pass
    tuned, steps = None, _check_whole("fine_tune_steps", fine_tune_steps, 0, 10**4)
    if steps:
        tuning = device_fine_tune(target.image, object_mask(target.weight, target.image), frame.projected, steps)
        tuned = [step for step in tuning][-1].tuned
    moves = (("shift_x", float(shift_x)), ("shift_y", float(shift_y)), ("zoom", float(zoom)))
    edit = EditSettings(
        target_class=None if target_class is None or int(target_class) < 0 else int(target_class),
        strength=float(strength),
        amounts=tuple(move for move in moves if move[1]),
    )
    edited, put_back = edit_images(target.image, object_mask(target.weight), frame.projected, edit, tuned)
    numbers = {"model": model, "space": space, "projection_loss": frame.best_loss, "fine_tune_steps": steps}
    numbers |= {"target_class": edit.target_class, "strength": edit.strength, "moves": dict(edit.amounts)}
    return [edited, put_back], numbers


def digit_from_image(image: str | Path | Image.Image) -> np.ndarray:
    """An uploaded digit as MNIST's ``28 x 28`` white on black in [0, 1]: a light background is inverted,
    and any other size is cropped to the ink, fitted in 20 x 20 and centred (as a drawing is)."""
    from app.tabs.defense import drawing_to_digit

    opened = Image.open(image) if isinstance(image, (str, Path)) else image
    grey = np.asarray(opened.convert("L"), np.float32) / 255
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    ink = 1 - grey if np.median(border) > 0.5 else grey
    if ink.shape == (28, 28):
        return ink
    digit = drawing_to_digit((1 - ink) * 255)
    if digit is None:
        raise ValueError("the digit image is blank")
    return digit


def _digit_note(image: str | Path | Image.Image, model: str) -> str:
    """:func:`app.domain.digit_notice` on an uploaded digit image."""
    from app.domain import digit_notice

    with Image.open(image) if isinstance(image, (str, Path)) else image.copy() as opened:
        return digit_notice(opened, model)


def defend_digit(
    digit=None,
    *,
    sample: str = "",
    model: str = "mnist-classifier",
    attack: str = "pgd-linf",
    strength: float = 1.0,
    steps: int = 5,
    seed: int = 0,
) -> tuple[list[Image.Image], dict]:
    """Attack a digit (an image, else the bundled ``sample``), then repair it in X and Z.

    Returns the adversarial and the two repaired digits (28 x 28) and the numbers: clean, attacked and
    per-step predictions, per-step losses, and the sentence saying what happened.
    """
    from app.defense_runs import attack_digits, defense_sentence, defense_steps, repaired_at, sample_digits, true_label

    if model not in available_models("classifier"):
        raise ValueError(f"model {model!r} is not available; present: {available_models('classifier')}")
    if attack not in ("pgd-linf", "pgd-l2"):
        raise ValueError(f"attack must be 'pgd-linf' or 'pgd-l2', got {attack!r}")
    if not (isinstance(strength, (int, float)) and 0 <= strength <= 10):
        raise ValueError(f"strength must be a number from 0 to 10, got {strength!r}")
    steps = _check_whole("steps", steps, 1, 200)
    if digit is None and sample not in sample_digits():
        raise ValueError(f"send a digit image or name a bundled sample: {list(sample_digits())}")
    clean_digit = digit_from_image(digit) if digit is not None else sample_digits()[sample]
    note = _digit_note(digit, model) if digit is not None else ""
    adversarial, clean, attacked = (values[0] for values in attack_digits(model, clean_digit[None], attack, float(strength), int(seed)))  # fmt: skip
    labels, losses, last = {"x": [], "z": []}, {"x": [], "z": []}, None
    for last in defense_steps(model, adversarial[None], steps):
        for space in labels:
            labels[space].append(last.labels(space)[0])
            losses[space].append(last.losses[space][0])
    numbers = {
        "model": model, "attack": attack, "strength": float(strength), "steps": steps,
        "true_label": true_label(sample) if digit is None else None, "clean": int(clean), "attacked": int(attacked),
        "fooled": bool(attacked != clean), "predictions": labels, "losses": losses,
        "repaired_at": {space: repaired_at(labels[space], int(clean)) for space in labels},
        "summary": defense_sentence(int(clean), int(attacked), labels["x"], labels["z"]), "notes": [note] if note else [],
    }  # fmt: skip
    pictures = [adversarial, last.repaired["x"][0].numpy(), last.repaired["z"][0].numpy()]
    return [Image.fromarray((np.clip(np.reshape(p, (28, 28)), 0, 1) * 255).astype(np.uint8)) for p in pictures], numbers
