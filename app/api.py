"""The page's documented API: one endpoint per tab, plain inputs in, final images and numbers out.

``/invert``, ``/pose``, ``/project``, ``/defend`` and ``/learn`` each run to the end in one
``gradio_client.Client.predict`` call (see the README for an example). Their inputs and outputs are
hidden components, so they are named and typed in ``view_api()``; every other event of the page is
kept out of the API. The computing is in :mod:`app.api_runs`.
"""

from __future__ import annotations

import logging

import gradio as gr

from app import api_runs
from app.defense_runs import sample_digits
from app.media import image_file, report_unreadable
from engines.core.losses import LOSSES
from engines.core.optim import OPTIMIZERS
from engines.io.masks import PRESETS
from engines.models.registry import available_models

logger = logging.getLogger(__name__)

ENDPOINTS = ("/invert", "/pose", "/project", "/edit", "/defend", "/learn")
HANDOFF_HELP = "Z steps before Z→X continues in X-space; -1 = the model's default (chosen on training data)"
LR_HELP = "0 = the model's default"


def _files(images) -> list[str | None]:
    return [None if image is None else image_file(image) for image in images]


def _guarded(compute, *args, **kwargs):
    """``compute(...)``, with a bad input's ``ValueError`` shown to the client as its message."""
    try:
        return compute(*args, **kwargs)
    except (ValueError, FileNotFoundError) as error:  # a rejected input: one log line, no traceback
        logger.info("API input rejected: %s", error)
        raise gr.Error(str(error), print_exception=False) from None
    except Exception as error:
        logger.exception("API call failed")
        raise gr.Error(f"internal error: {error!r}") from error


def invert(
    image: str,
    mask: str | None = None,
    model: str = "faces64",
    preset: str = "none",
    steps: int = 200,
    optimizer: str = "adam",
    loss: str = "mse+lpips",
    lr_x: float = 0,
    lr_z: float = 0,
    handoff: int = -1,
    seed: int = 0,
    align: bool = True,
    refine: bool = False,
):
    """Invert an image (a file or URL; optional mask: white = hidden from the loss) with three optimisers:
    X (the generator's input directly), Z (through the learned map Θ) and Z→X (``handoff`` Z steps, then X),
    prepared as the page does (``align``: a face aligned to the training crop, pixels beyond the photo hidden).
    refine (off by default, as on the page): a face model's last stage, "Refine past the generator", from
    Z→X within the same steps. Returns the three final images, a JSON (per-step losses of each optimiser,
    settings, summary, notes; ``final`` with refine) and the refined image (None without refine)."""
    settings = dict(model=model, preset=preset, steps=steps, optimizer=optimizer, loss=loss, lr_x=lr_x, lr_z=lr_z)
    settings.update(refine=bool(refine), align=align)
    images, numbers = _guarded(api_runs.invert_image, image, mask, handoff=handoff, seed=seed, **settings)
    *images, final = images
    return *_files(images), numbers, _files([final])[0]


def pose(
    sample: str,
    frame: int = 0,
    observed: str = "upper body",
    model: str = "pose32",
    steps: int = 200,
    lr_x: float = 0,
    lr_z: float = 0,
    handoff: int = -1,
    seed: int = 0,
):
    """Complete the hidden joints of a pose (a bundled sample's frame, or a seeded prior sample) from the
    ``observed`` joints with X, Z and Z→X. Returns a still of the three and a JSON of losses, errors, poses."""
    settings = dict(model=model, frame=frame, seed=seed, observed=observed, steps=steps, lr_x=lr_x, lr_z=lr_z)
    still, numbers = _guarded(api_runs.complete_pose, sample, handoff=handoff, **settings)
    return _files([still])[0], numbers


def project(
    image: str,
    mask: str | None = None,
    model: str = "digits",
    method: str = "basincma",
    space: str = "both",
    transform: bool = True,
    label: int = -1,
    budget: int = 600,
    population: int = 8,
    seed: int = 0,
):
    """Project an image into a generator (pix2latent: transform search, CMA, Adam) in X, Z or both.
    mask: white marks the object (its box is used); label -1: the model's classifier picks the class.
    Returns the best generation of X and of Z (None when not run) and a JSON of losses and a summary."""
    settings = dict(model=model, method=method, space=space, transform=transform, label=label, seed=seed)
    images, numbers = _guarded(api_runs.project_image, image, mask, budget=budget, population=population, **settings)
    return *_files(images), numbers


def edit(
    image: str,
    mask: str | None = None,
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
):
    """Project an image (as /project, one space), optionally fine-tune a copy of G, edit it (target_class -1 =
    keep; strength 0..1; shift / zoom along the model's directions, -1..1) and put the edit back into the image.
    Returns the edited object (generator frame), the image with the edit put back, and a JSON of numbers."""
    settings = dict(model=model, method=method, space=space, transform=transform, label=label, seed=seed)
    settings |= dict(target_class=target_class, strength=strength, shift_x=shift_x, shift_y=shift_y, zoom=zoom)
    images, numbers = _guarded(
        api_runs.edit_image, image, mask, budget=budget, population=population, fine_tune_steps=fine_tune_steps,
        **settings,
    )  # fmt: skip
    return *_files(images), numbers


def defend(
    digit: str | None = None,
    sample: str = "",
    model: str = "mnist-classifier",
    attack: str = "pgd-linf",
    strength: float = 1.0,
    steps: int = 5,
    seed: int = 0,
):
    """Attack a digit (an image file, else the bundled ``sample``) with PGD, then reverse the attack in X and
    in Z. Returns the adversarial and the two repaired digits and a JSON: predictions per step, whether the
    attack fooled the classifier and at which step X and Z repaired it, in one sentence too."""
    settings = dict(sample=sample, model=model, attack=attack, strength=strength, steps=steps, seed=seed)
    images, numbers = _guarded(api_runs.defend_digit, None if digit in (None, "") else digit, **settings)
    return *_files(images), numbers


def learn(model: str = "digits", seconds: float = 30, start: str = "random", images: list | None = None, seed: int = 0):
    """Learn Θ (Algorithm 1) for ``seconds`` of learning from a ``random`` or the ``shipped`` Θ, on the model's
    training targets or on up to 64 ``images`` of your own; waits its turn (one learning job per server).
    Returns the per-round figures as JSON (trajectory loss; X, Z, Z→X probe losses at steps 2, 20, 200, round 0
    first) and the learned Θ as a safetensors file (``python -m engines.invert --mapping FILE``)."""
    import uuid

    from app.learn_runs import LearnSettings, learn_to_end, own_targets
    from engines.models.registry import load_model

    def compute():
        settings = LearnSettings(model=model, start=start, seconds=float(seconds), seed=int(seed))
        own = own_targets(images, load_model(model)) if images else None
        frame, path = learn_to_end(settings, own=own, session=f"api-{uuid.uuid4().hex}")
        return {"model": model, "start": start, **frame.figures(), "status": frame.status}, str(path)

    return _guarded(compute)


def _learn_endpoint() -> None:
    from app.learn_runs import MAX_SECONDS
    from engines.train.live import STARTS, live_models

    inputs = [
        _choice(live_models(), "digits", "model"),
        gr.Number(30, label="seconds", info=f"learning budget, 1 to {MAX_SECONDS}"),
        _choice(list(STARTS), "random", "start"),
        gr.File(file_count="multiple", file_types=["image"], label="images"),
        gr.Number(0, precision=0, label="seed"),
    ]
    outputs = [gr.JSON(label="figures"), gr.File(label="Θ file")]
    gr.Button(visible=False).click(learn, inputs, outputs, api_name="learn", concurrency_limit=None)


def _choice(choices: list[str], value: str, label: str) -> gr.Dropdown:
    return gr.Dropdown(choices, value=value if value in choices else (choices[0] if choices else None), label=label)


def _image_input(label: str) -> gr.Image:
    """An image input that answers a file that is not an image in the app's words."""
    return report_unreadable(gr.Image(type="filepath", label=label), f"⚠ {label}: not a readable image; send a PNG or JPEG")  # fmt: skip


def _result_image(label: str) -> gr.Image:
    return gr.Image(label=label, type="filepath", format="png")


def _invert_endpoint() -> None:
    inputs = [
        _image_input("image"),
        _image_input("mask"),
        _choice(available_models("image"), "faces64", "model"),
        _choice(list(PRESETS), "none", "preset"),
        gr.Number(200, precision=0, label="steps"),
        _choice(list(OPTIMIZERS), "adam", "optimizer"),
        _choice(sorted(LOSSES), "mse+lpips", "loss"),
        gr.Number(0, label="lr_x", info=LR_HELP),
        gr.Number(0, label="lr_z", info=LR_HELP),
        gr.Number(-1, precision=0, label="handoff", info=HANDOFF_HELP),
        gr.Number(0, precision=0, label="seed"),
        gr.Checkbox(True, label="align", info="a face model's upload aligned to the training crop, as on the page"),
        gr.Checkbox(False, label="refine", info="face models: refine past the generator (the page's Final pane)"),
    ]
    outputs = [_result_image("X result"), _result_image("Z result"), _result_image("Z→X result"), gr.JSON(label="numbers")]  # fmt: skip
    outputs.append(_result_image("Final result (refine; None without it)"))
    gr.Button(visible=False).click(invert, inputs, outputs, api_name="invert")


def _pose_endpoint() -> None:
    from app.tabs.pose import RANDOM_SAMPLE, bundled_samples
    from engines.models.pose.skeleton import PRESETS as JOINT_PRESETS

    samples = [*bundled_samples(), RANDOM_SAMPLE]
    inputs = [
        _choice(samples, samples[0], "sample"),
        gr.Number(0, precision=0, label="frame"),
        _choice(list(JOINT_PRESETS), "upper body", "observed"),
        _choice(available_models("pose"), "pose32", "model"),
        gr.Number(200, precision=0, label="steps"),
        gr.Number(0, label="lr_x", info=LR_HELP),
        gr.Number(0, label="lr_z", info=LR_HELP),
        gr.Number(-1, precision=0, label="handoff", info=HANDOFF_HELP),
        gr.Number(0, precision=0, label="seed"),
    ]
    outputs = [_result_image("poses X Z Z→X"), gr.JSON(label="numbers")]
    gr.Button(visible=False).click(pose, inputs, outputs, api_name="pose")


def _project_endpoint() -> None:
    from engines.core.projection import METHODS

    inputs = [
        _image_input("image"),
        _image_input("mask"),
        _choice(available_models("image"), "digits", "model"),
        _choice(list(METHODS), "basincma", "method"),
        _choice(["both", "x", "z"], "both", "space"),
        gr.Checkbox(True, label="transform"),
        gr.Number(-1, precision=0, label="label"),
        gr.Number(600, precision=0, label="budget"),
        gr.Number(8, precision=0, label="population"),
        gr.Number(0, precision=0, label="seed"),
    ]
    outputs = [_result_image("X projection"), _result_image("Z projection"), gr.JSON(label="numbers")]
    gr.Button(visible=False).click(project, inputs, outputs, api_name="project")


def _edit_endpoint() -> None:
    from engines.core.projection import METHODS

    inputs = [
        gr.Image(type="filepath", label="image"),
        gr.Image(type="filepath", label="mask"),
        _choice(available_models("image"), "digits", "model"),
        _choice(list(METHODS), "basincma", "method"),
        _choice(["x", "z"], "x", "space"),
        gr.Checkbox(True, label="transform"),
        gr.Number(-1, precision=0, label="label"),
        gr.Number(600, precision=0, label="budget"),
        gr.Number(8, precision=0, label="population"),
        gr.Number(0, precision=0, label="seed"),
        gr.Number(-1, precision=0, label="target_class"),
        gr.Number(1.0, label="strength"),
        gr.Number(0.0, label="shift_x"),
        gr.Number(0.0, label="shift_y"),
        gr.Number(0.0, label="zoom"),
        gr.Number(0, precision=0, label="fine_tune_steps"),
    ]
    outputs = [_result_image("edited object"), _result_image("put back"), gr.JSON(label="numbers")]
    gr.Button(visible=False).click(edit, inputs, outputs, api_name="edit")


def _defend_endpoint() -> None:
    digits = ["", *sample_digits()]
    inputs = [
        _image_input("digit"),
        _choice(digits, digits[1] if len(digits) > 1 else "", "sample"),
        _choice(available_models("classifier"), "mnist-classifier", "model"),
        _choice(["pgd-linf", "pgd-l2"], "pgd-linf", "attack"),
        gr.Number(1.0, label="strength"),
        gr.Number(5, precision=0, label="steps"),
        gr.Number(0, precision=0, label="seed"),
    ]
    outputs = [_result_image("adversarial"), _result_image("X repaired"), _result_image("Z repaired"), gr.JSON(label="numbers")]  # fmt: skip
    gr.Button(visible=False).click(defend, inputs, outputs, api_name="defend")


def build_api() -> None:
    """The five documented endpoints, on hidden components of the current Blocks (call inside ``gr.Blocks``)."""
    with gr.Column(visible=False):
        _invert_endpoint()
        _pose_endpoint()
        _project_endpoint()
        _edit_endpoint()
        _defend_endpoint()
        _learn_endpoint()
