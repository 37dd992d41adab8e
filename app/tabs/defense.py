"""The "Adversarial defense" tab: attack a digit classifier, then repair the image by reversal in
X-space and in Z-space (r = Θ(z)) side by side, one step at a time.

Draw a digit or pick a test digit, choose the classifier and the attack strength, press Attack;
Defend streams both reversals. The image is defended alone: the objective (the classifier's contrastive
head disagreeing with itself on a squeezed view of the image) depends on that image only.
State holds plain lists only; models are loaded once by :mod:`engines.models.registry`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image

from app.defense_runs import (
    DefenseStep,
    attack_digits,
    classify,
    defend_samples,
    defense_sentence,
    defense_steps,
    digit_label,
    sample_digits,
)
from app.figures import X_COLOUR, Z_COLOUR
from app.media import as_files
from app.progress import on_strip, progress_strip
from app.session import SESSIONS, RunInProgress, session_id
from engines.models.registry import available_models

logger = logging.getLogger(__name__)
TITLE, ORDER = "Adversarial defense", 40
INTRO = (
    "**Attack a digit, then repair it.** PGD nudges a handwritten digit until the classifier F′ misreads it; "
    "the defense then searches a small reversal r that undoes the attack (Mao et al., ICCV 2021), directly in "
    "pixels (**X-space**) or through the learned map (**Z-space**, r = Θ(z)), and shows after which step each "
    "space's repair reads the digit right again."
)
READY = "Pick a digit (or draw one), press **Attack**, then **Defend**; or score **All ten bundled digits**."
DRAWN = "my drawing"
ATTACKS = {"PGD L∞": "pgd-linf", "PGD L2": "pgd-l2"}
REFRESH_SECONDS = 0.3
SHOWN_SIZE = 168
DIGIT_COLUMNS = ["digit", "clean", "attacked", "X at the end", "Z at the end", "X repaired at step", "Z repaired at step"]  # fmt: skip
ACCURACY_COLUMNS = ["stage", "correct", "accuracy"]


def drawing_to_digit(value) -> np.ndarray | None:
    """A sketchpad value (dict with ``composite`` or an array) -> MNIST-style ``28 x 28`` in [0, 1], or None if blank.

    Strokes become white on black; the drawing is cropped, fitted in 20 x 20 and centred.
    """
    array = value.get("composite") if isinstance(value, dict) else value
    if array is None:
        return None
    array = np.asarray(array, np.float32)
    if array.ndim == 3 and array.shape[2] == 4:
        ink = array[..., 3] / 255 * (1 - array[..., :3].mean(2) / 255)
    else:
        grey = array.mean(2) if array.ndim == 3 else array
        ink = 1 - grey / 255
    rows, cols = np.nonzero(ink > 0.1)
    if len(rows) == 0:
        return None
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = 20 / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize(size, Image.LANCZOS), np.float32) / 255
    digit = np.zeros((28, 28), np.float32)
    top, left = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
    digit[top : top + small.shape[0], left : left + small.shape[1]] = small
    return digit


def picture(values, *, signed: bool = False) -> Image.Image:
    """A ``28 x 28`` image (or a signed reversal vector: grey = 0) enlarged for display."""
    array = np.asarray(values, np.float32).reshape(28, 28)
    if signed:
        array = 0.5 + array / (2 * max(float(np.abs(array).max()), 1e-6))
    image = Image.fromarray((np.clip(array, 0, 1) * 255).astype(np.uint8))
    return image.resize((SHOWN_SIZE, SHOWN_SIZE), Image.NEAREST)


def probability_figure(probabilities, *, title: str, colour: str) -> go.Figure:
    """Class probabilities 0..9 as a bar chart."""
    figure = go.Figure(go.Bar(x=[str(d) for d in range(10)], y=list(probabilities), marker_color=colour))
    figure.update_layout(
        title={"text": title, "x": 0.02},
        yaxis={"range": [0, 1], "title": "probability"},
        xaxis={"title": "class"},
        height=230,
        margin={"l": 45, "r": 10, "t": 40, "b": 40},
        template="plotly_white",
    )
    return figure


def build_defense_tab() -> dict:
    """Create the tab's components and events in the current Blocks context; returns the components."""
    models = available_models("classifier")
    digits = list(sample_digits())
    gr.Markdown(INTRO, elem_id="defense-intro")
    if not models:
        gr.Markdown("⚠ No classifier weights found: train `mnist-classifier` first (see the README).")
    with gr.Row():
        with gr.Column(scale=1):
            model = gr.Dropdown(models, value=models[0] if models else None, label="Classifier F′")
            choices = [*((digit_label(name), name) for name in digits), (DRAWN, DRAWN)]
            source = gr.Dropdown(choices, value=digits[0] if digits else DRAWN, label="Digit")
            gr.Markdown("**Draw a digit** (choose “my drawing” above):", elem_classes=["editor-help"])
            sketch = gr.Sketchpad(label="Draw a digit", show_label=False, height=280, width=280)
            attack = gr.Radio(list(ATTACKS), value="PGD L∞", label="Attack")
            strength = gr.Slider(0, 2, value=1, step=0.1, label="Attack strength (× the benchmark's ε)")
            steps = gr.Slider(1, 30, value=5, step=1, label="Defense steps")
        with gr.Column(scale=3):
            with gr.Row():  # above the fold, with the result sentence
                attack_button = gr.Button("Attack", variant="primary", elem_id="defense-attack")
                defend_button = gr.Button("Defend", interactive=False, elem_id="defense-defend")
                stop_button = gr.Button("Stop", interactive=False)
                all_button = gr.Button("All ten bundled digits", elem_id="defense-all")
            status = gr.Markdown(READY, elem_id="defense-status")
            progress = progress_strip("defense-progress")
            with gr.Row():
                clean_image = gr.Image(label="clean", type="pil", height=SHOWN_SIZE, interactive=False)
                adversarial_image = gr.Image(label="adversarial", type="pil", height=SHOWN_SIZE, interactive=False)
                attacked_chart = gr.Plot(label="attacked prediction")
            with gr.Row():
                x_image = gr.Image(label="X-space: repaired", type="pil", height=SHOWN_SIZE, interactive=False)
                x_reversal = gr.Image(label="X-space: reversal r", type="pil", height=SHOWN_SIZE, interactive=False)
                x_chart = gr.Plot(label="X-space prediction")
            with gr.Row():
                z_image = gr.Image(label="Z-space: repaired", type="pil", height=SHOWN_SIZE, interactive=False)
                z_reversal = gr.Image(label="Z-space: reversal r = Θ(z)", type="pil", height=SHOWN_SIZE, interactive=False)  # fmt: skip
                z_chart = gr.Plot(label="Z-space prediction")
            with gr.Row():
                accuracy = gr.Dataframe(headers=ACCURACY_COLUMNS, label="Accuracy on the ten bundled digits", interactive=False, elem_id="defense-accuracy")  # fmt: skip
                per_digit = gr.Dataframe(headers=DIGIT_COLUMNS, label="Per digit (predictions)", interactive=False)
    adversarial, labels = gr.State([]), gr.State([])
    parts = dict(model=model, source=source, sketch=sketch, attack=attack, strength=strength, steps=steps,
                 attack_button=attack_button, defend_button=defend_button, stop_button=stop_button, status=status,
                 clean_image=clean_image, adversarial_image=adversarial_image, attacked_chart=attacked_chart,
                 x_image=x_image, x_reversal=x_reversal, x_chart=x_chart, z_image=z_image, z_reversal=z_reversal,
                 z_chart=z_chart, adversarial=adversarial, labels=labels, all_button=all_button, accuracy=accuracy,
                 per_digit=per_digit)  # fmt: skip
    handlers = DefenseHandlers(parts)
    inputs = [parts[name] for name in ("model", "source", "sketch", "attack", "strength")]
    shown = dict(api_name=False, **on_strip(progress))  # the queue place, then the elapsed time
    attack_button.click(handlers.attack, inputs, handlers.attack_outputs, **shown)
    defend_button.click(handlers.defend, [model, adversarial, steps, labels], handlers.defend_outputs, **shown)
    all_button.click(handlers.all_digits, [model, attack, strength, steps], handlers.all_outputs, **shown)
    stop_button.click(handlers.stop, None, None, api_name=False, concurrency_limit=None, show_progress="hidden")
    return parts


class DefenseHandlers:
    """Attack / Defend / All ten / Stop for one tab's components (``parts``: name -> component)."""

    def __init__(self, parts: dict):
        self.parts = parts
        self.controls = [parts[name] for name in ("attack_button", "defend_button", "stop_button", "model", "all_button")]  # fmt: skip
        views = ("x_image", "x_reversal", "x_chart", "z_image", "z_reversal", "z_chart")
        self.attack_outputs = [parts[name] for name in ("status", "clean_image", "adversarial_image", "attacked_chart", "adversarial", "labels", "defend_button")]  # fmt: skip
        self.defend_outputs = [parts[name] for name in ("status", *views)] + self.controls
        self.all_outputs = [parts[name] for name in ("status", "accuracy", "per_digit")] + self.controls

    def attack(self, model, source, sketch, attack, strength) -> dict:
        parts = self.parts
        digit = drawing_to_digit(sketch) if source == DRAWN else sample_digits().get(source)
        if digit is None:
            return {parts["status"]: "⚠ draw a digit first (or pick a test digit)"}
        try:
            adversarial, clean, attacked = (values[0] for values in attack_digits(model, digit[None], ATTACKS[attack], float(strength)))  # fmt: skip
        except (ValueError, FileNotFoundError) as error:
            return {parts["status"]: f"⚠ {error}"}
        probabilities = classify(model, torch.as_tensor(adversarial).view(1, 1, 28, 28))[0]
        verdict = "fooled" if attacked != clean else "not fooled"
        return as_files(
            {
                parts["status"]: f"clean prediction **{clean}** → attacked prediction **{attacked}** ({verdict})",
                parts["clean_image"]: picture(digit),
                parts["adversarial_image"]: picture(adversarial),
                parts["attacked_chart"]: probability_figure(
                    probabilities, title=f"attacked: {attacked}", colour="gray"
                ),
                parts["adversarial"]: adversarial.reshape(-1).tolist(),
                parts["labels"]: [int(clean), int(attacked)],
                parts["defend_button"]: gr.update(interactive=True),
            }
        )

    def stop(self, request: gr.Request = None) -> None:
        SESSIONS.stop(session_id(request))

    def defend(self, model, adversarial, steps, labels=None, request: gr.Request = None) -> Iterator[dict]:
        """Defend: stream both reversals; end with the sentence saying what the attack and the defense did.

        labels: [clean, attacked] predictions from Attack (None: the clean prediction is unknown)."""
        status, key = self.parts["status"], session_id(request)
        if not adversarial:
            yield {status: "⚠ press Attack first"}
            return
        try:
            stop = SESSIONS.start(key)
        except RunInProgress as error:
            yield {status: f"⚠ {error}"}
            return
        yield {**self._controls(running=True), status: "Starting…"}
        history: dict[str, list[int]] = {"x": [], "z": []}
        try:
            for updates in self._stream(model, np.asarray(adversarial, np.float32), int(steps), stop, history):
                yield as_files(updates)
            message = self._verdict(model, adversarial, labels, history)
            if stop.is_set():
                message = f"Stopped at step {len(history['x']) - 1}. {message}"
        except (ValueError, FileNotFoundError) as error:
            message = f"⚠ {error}"
        except Exception as error:  # shown and logged, so the page stays usable
            logger.exception("defense run failed")
            message = f"⚠ internal error: {error!r}"
        finally:
            SESSIONS.finish(key, stop)
        yield {**self._controls(running=False), status: message}

    def all_digits(self, model, attack, strength, steps, request: gr.Request = None) -> Iterator[dict]:
        """All ten bundled digits: attack each, defend in X and Z, and tabulate the accuracy."""
        parts, key = self.parts, session_id(request)
        try:
            stop = SESSIONS.start(key)
        except RunInProgress as error:
            yield {parts["status"]: f"⚠ {error}"}
            return
        yield {**self._controls(running=True), parts["status"]: "Attacking and defending the ten bundled digits…"}
        tables: dict = {}
        try:
            result = defend_samples(model, ATTACKS[attack], float(strength), int(steps))
            rows = result.accuracy_rows()
            tables = {parts["accuracy"]: rows, parts["per_digit"]: result.digit_rows()}
            correct = {stage: count for stage, count, _ in rows}
            message = (
                f"Ten bundled digits, {attack} at {float(strength):g}× ε, correct: clean {correct['clean']}, "
                f"attacked {correct['attacked']}, X after step {int(steps)} {correct[f'X after step {int(steps)}']}, "
                f"Z after step {int(steps)} {correct[f'Z after step {int(steps)}']}."
            )
        except (ValueError, FileNotFoundError) as error:
            message = f"⚠ {error}"
        except Exception as error:  # shown and logged, so the page stays usable
            logger.exception("defense of the bundled digits failed")
            message = f"⚠ internal error: {error!r}"
        finally:
            SESSIONS.finish(key, stop)
        yield {**self._controls(running=False), **tables, parts["status"]: message}

    def _verdict(self, model: str, adversarial, labels, history: dict) -> str:
        if labels and len(labels) == 2:
            clean, attacked = (int(label) for label in labels)
        else:
            clean, attacked = None, int(classify(model, torch.as_tensor(adversarial, dtype=torch.float32).view(1, 1, 28, 28)).argmax())  # fmt: skip
        return defense_sentence(clean, attacked, history["x"], history["z"]) or "Done."

    def _controls(self, *, running: bool) -> dict:
        return {
            component: gr.update(interactive=(running if index == 2 else not running))
            for index, component in enumerate(self.controls)
        }

    def _stream(self, model: str, adversarial: np.ndarray, steps: int, stop, history: dict) -> Iterator[dict]:
        """Views every ~0.3 s and at the end; ``history`` receives each space's prediction at every step."""
        shown = 0.0
        for step in defense_steps(model, adversarial, steps):
            for space in history:
                history[space].append(step.labels(space)[0])
            last = step.index == steps or stop.is_set()
            if last or time.monotonic() - shown > REFRESH_SECONDS:
                shown = time.monotonic()
                yield self._views(step, steps)
            if last:
                break

    def _views(self, step: DefenseStep, steps: int) -> dict:
        parts, updates = self.parts, {}
        for space, colour in (("x", X_COLOUR), ("z", Z_COLOUR)):
            label = step.labels(space)[0]
            name = "X-space" if space == "x" else "Z-space (Θ)"
            updates[parts[f"{space}_image"]] = picture(step.repaired[space][0].numpy())
            updates[parts[f"{space}_reversal"]] = picture(step.reversal[space][0].numpy(), signed=True)
            updates[parts[f"{space}_chart"]] = probability_figure(step.probabilities[space][0], title=f"{name}: {label}", colour=colour)  # fmt: skip
        updates[parts["status"]] = f"step {step.index}/{steps} · X predicts {step.labels('x')[0]} · Z predicts {step.labels('z')[0]}"  # fmt: skip
        return updates


build_tab = build_defense_tab
