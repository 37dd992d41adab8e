"""The "Adversarial defense" tab: attack a digit classifier, then repair the image by reversal in
X-space and in Z-space (r = Θ(z)) side by side, one step at a time.

Draw a digit or pick a test digit, choose the classifier and the attack strength, press Attack;
Defend streams both reversals. The image is defended alone: the contrastive loss's negatives are
the classifier's shipped bank of clean training embeddings, not other images.
State holds plain lists only; models are loaded once by :mod:`engines.models.registry`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image

from app.figures import X_COLOUR, Z_COLOUR
from app.gpu import device_outside_gpu_functions
from app.media import as_files
from app.runs import DivergenceGuard
from app.session import SESSIONS, RunInProgress, session_id
from engines.core.attacks import pgd
from engines.core.defense import DefenseConfig, repair, reverse
from engines.models.registry import available_models, load_mapping, load_model

logger = logging.getLogger(__name__)
TITLE, ORDER = "Adversarial defense", 40
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples" / "mnist"
DRAWN = "my drawing"
ATTACKS = {"PGD L∞": "pgd-linf", "PGD L2": "pgd-l2"}
REFRESH_SECONDS = 0.3
SHOWN_SIZE = 168


@lru_cache(maxsize=1)
def sample_digits() -> dict[str, np.ndarray]:
    """Bundled test digits by name, ``28 x 28`` floats in [0, 1]."""
    return {path.stem: np.asarray(Image.open(path).convert("L"), np.float32) / 255 for path in sorted(SAMPLES_DIR.glob("*.png"))}  # fmt: skip


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


def classify(model: str, images: torch.Tensor) -> np.ndarray:
    """Softmax probabilities ``B x 10`` of ``B x 1 x 28 x 28`` images."""
    net = load_model(model, device_outside_gpu_functions())
    with torch.no_grad():
        return torch.softmax(net(images.to(next(net.parameters()).device)), 1).cpu().numpy()


def attack_digit(model: str, digit: np.ndarray, attack: str, strength: float, seed: int = 0) -> tuple[np.ndarray, int, int]:  # fmt: skip
    """The adversarial digit (``28 x 28``) against the predicted class, the clean and the attacked prediction."""
    from engines.models.mnist.model import attack_budget

    budget = attack_budget(model, attack)
    budget = dataclasses.replace(budget, epsilon=budget.epsilon * strength, step_size=budget.step_size * max(strength, 0.05))  # fmt: skip
    image = torch.as_tensor(digit, dtype=torch.float32).view(1, 1, 28, 28)
    clean = int(classify(model, image).argmax())
    net = load_model(model, device_outside_gpu_functions())
    device = next(net.parameters()).device
    adversarial = pgd(net, image.to(device), torch.tensor([clean], device=device), budget, seed=seed).cpu()
    return adversarial.view(28, 28).numpy(), clean, int(classify(model, adversarial).argmax())


def defense_runs(model: str, digit: np.ndarray, steps: int) -> tuple[Iterator, Iterator, torch.Tensor]:
    """X- and Z-space reversal generators for ``digit`` alone (the negatives are the shipped bank)."""
    from engines.models.mnist.model import defense_contrastive, defense_settings

    device = device_outside_gpu_functions()
    net, mapping = load_model(model, device), load_mapping(model, device)
    config = DefenseConfig.from_dict(defense_settings(model))
    batch = torch.as_tensor(np.asarray(digit, np.float32).reshape(1, 784)).to(device)
    runs = [
        reverse(
            defense_contrastive(model, net, seed=config.seed).to(device),
            batch,
            mapping=space,
            config=config,
            steps=steps,
        )
        for space in (None, mapping)
    ]
    return runs[0], runs[1], batch


def build_defense_tab() -> dict:
    """Create the tab's components and events in the current Blocks context; returns the components."""
    models = available_models("classifier")
    digits = list(sample_digits())
    if not models:
        gr.Markdown("⚠ No classifier weights found: train `mnist-classifier` first (see the README).")
    with gr.Row():
        with gr.Column(scale=1):
            model = gr.Dropdown(models, value=models[0] if models else None, label="Classifier F′")
            source = gr.Dropdown([*digits, DRAWN], value=digits[0] if digits else DRAWN, label="Digit")
            sketch = gr.Sketchpad(label="Draw a digit (choose “my drawing” above)", height=280, width=280)
            attack = gr.Radio(list(ATTACKS), value="PGD L∞", label="Attack")
            strength = gr.Slider(0, 2, value=1, step=0.1, label="Attack strength (× the benchmark's ε)")
            steps = gr.Slider(1, 30, value=5, step=1, label="Defense steps")
            with gr.Row():
                attack_button = gr.Button("Attack", variant="primary")
                defend_button = gr.Button("Defend", interactive=False)
                stop_button = gr.Button("Stop", interactive=False)
            status = gr.Markdown()
        with gr.Column(scale=3):
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
    adversarial = gr.State([])
    parts = dict(model=model, source=source, sketch=sketch, attack=attack, strength=strength, steps=steps,
                 attack_button=attack_button, defend_button=defend_button, stop_button=stop_button, status=status,
                 clean_image=clean_image, adversarial_image=adversarial_image, attacked_chart=attacked_chart,
                 x_image=x_image, x_reversal=x_reversal, x_chart=x_chart, z_image=z_image, z_reversal=z_reversal,
                 z_chart=z_chart, adversarial=adversarial)  # fmt: skip
    handlers = DefenseHandlers(parts)
    inputs = [parts[name] for name in ("model", "source", "sketch", "attack", "strength")]
    attack_button.click(handlers.attack, inputs, handlers.attack_outputs)
    defend_button.click(handlers.defend, [model, adversarial, steps], handlers.defend_outputs)
    stop_button.click(handlers.stop, None, None)
    return parts


class DefenseHandlers:
    """Attack / Defend / Stop for one tab's components (``parts``: name -> component)."""

    def __init__(self, parts: dict):
        self.parts = parts
        self.controls = [parts[name] for name in ("attack_button", "defend_button", "stop_button", "model")]
        views = ("x_image", "x_reversal", "x_chart", "z_image", "z_reversal", "z_chart")
        self.attack_outputs = [parts[name] for name in ("status", "clean_image", "adversarial_image", "attacked_chart", "adversarial", "defend_button")]  # fmt: skip
        self.defend_outputs = [parts[name] for name in ("status", *views)] + self.controls

    def attack(self, model, source, sketch, attack, strength) -> dict:
        parts = self.parts
        digit = drawing_to_digit(sketch) if source == DRAWN else sample_digits().get(source)
        if digit is None:
            return {parts["status"]: "⚠ draw a digit first (or pick a test digit)"}
        try:
            adversarial, clean, attacked = attack_digit(model, digit, ATTACKS[attack], float(strength))
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
                parts["defend_button"]: gr.update(interactive=True),
            }
        )

    def stop(self, request: gr.Request = None) -> None:
        SESSIONS.stop(session_id(request))

    def defend(self, model, adversarial, steps, request: gr.Request = None) -> Iterator[dict]:
        status, key = self.parts["status"], session_id(request)
        if not adversarial:
            yield {status: "⚠ press Attack first"}
            return
        try:
            stop = SESSIONS.start(key)
        except RunInProgress as error:
            yield {status: f"⚠ {error}"}
            return
        message = "Done."
        yield {**self._controls(running=True), status: "Starting…"}
        try:
            for updates in self._stream(model, np.asarray(adversarial, np.float32), int(steps), stop):
                yield as_files(updates)
            message = "Stopped." if stop.is_set() else "Done."
        except (ValueError, FileNotFoundError) as error:
            message = f"⚠ {error}"
        except Exception as error:  # shown and logged, so the page stays usable
            logger.exception("defense run failed")
            message = f"⚠ internal error: {error!r}"
        finally:
            SESSIONS.finish(key, stop)
        yield {**self._controls(running=False), status: message}

    def _controls(self, *, running: bool) -> dict:
        return {
            component: gr.update(interactive=(running if index == 2 else not running))
            for index, component in enumerate(self.controls)
        }

    def _stream(self, model: str, adversarial: np.ndarray, steps: int, stop) -> Iterator[dict]:
        x_run, z_run, batch = defense_runs(model, adversarial, steps)
        shown, guard = 0.0, DivergenceGuard()  # the check every tab shares
        for x_step, z_step in zip(x_run, z_run):
            if message := guard.check((x_step, z_step)):
                raise ValueError(message)
            last = x_step.index == steps or stop.is_set()
            if last or time.monotonic() - shown > REFRESH_SECONDS:
                shown = time.monotonic()
                yield self._views(model, batch[:1], x_step.x[:1], z_step.x[:1], x_step.index, steps)
            if last:
                break

    def _views(self, model: str, attacked, x_reversal, z_reversal, index: int, steps: int) -> dict:
        parts, updates = self.parts, {}
        labels = []
        for space, reversal, colour in (("x", x_reversal, X_COLOUR), ("z", z_reversal, Z_COLOUR)):
            repaired = repair(attacked.cpu(), reversal.cpu())
            probabilities = classify(model, repaired.view(1, 1, 28, 28))[0]
            labels.append(int(probabilities.argmax()))
            name = "X-space" if space == "x" else "Z-space (Θ)"
            updates[parts[f"{space}_image"]] = picture(repaired.numpy())
            updates[parts[f"{space}_reversal"]] = picture(reversal.cpu().numpy(), signed=True)
            updates[parts[f"{space}_chart"]] = probability_figure(probabilities, title=f"{name}: {labels[-1]}", colour=colour)  # fmt: skip
        updates[parts["status"]] = f"step {index}/{steps} · X predicts {labels[0]} · Z predicts {labels[1]}"
        return updates


build_tab = build_defense_tab
