"""Projection runs (pix2latent) as a stream of display frames, and fine-tuning after one.

No Gradio here: :func:`stream_projection` yields plain :class:`ProjectionFrame` objects (PIL images,
numbers) that the Projection tab turns into component updates, so tests can drive a run without a
browser. What a later Fine-tune needs of a finished run is kept as plain lists (:class:`Projected`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch
from PIL import Image, ImageDraw
from torch import Tensor

from app.gpu import gpu
from app.runs import _Throttle, get_mapping
from app.story import LEVEL
from engines.core.device import default_device
from engines.core.projection import METHODS, ProjectionConfig, ProjectionStep, fine_tune, predict_class, project
from engines.core.projection_loss import OUTSIDE_WEIGHT, make_projection_loss, mask_weights
from engines.core.transforms import TRANSFORMS, apply_transform, foreground_box, invert_transform, params_from_mask
from engines.io.images import tensor_to_image
from engines.models.registry import available_models, load_model

logger = logging.getLogger(__name__)

MAX_BUDGET = 20000
MAX_POPULATION = 32
MAX_FINE_TUNE_STEPS = 1000
SPACES = ("x", "z")
CLASSIFIER_EXTENT = 0.75
OBJECT_EXTENT = 0.75  # the object box fills this share of the generator frame at the transform search's start
DISPLAY_SIDE = 160  # images smaller than this are enlarged (nearest) for display


@dataclass(frozen=True, kw_only=True)
class ProjectionSettings:
    """What one projection does; validated so that bad UI input becomes a clear ``ValueError``.

    label: the class to start from (None = the model's classifier decides); budget: generator
    forward passes per target; population: seeds / CMA population K.
    """

    model: str
    method: str = "basincma"
    space: str = "x"
    transform: str = "none"
    label: int | None = None
    budget: int = 1800
    population: int = 12
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in available_models("image"):
            raise ValueError(f"model {self.model!r} is not available; present: {available_models('image')}")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose from {METHODS}")
        if self.space not in SPACES:
            raise ValueError(f"space must be 'x' or 'z', got {self.space!r}")
        if self.transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {self.transform!r}; choose from {TRANSFORMS}")
        if not (isinstance(self.population, int) and 2 <= self.population <= MAX_POPULATION):
            raise ValueError(f"population must be a whole number from 2 to {MAX_POPULATION}, got {self.population!r}")
        if not (isinstance(self.budget, int) and 2 * self.population <= self.budget <= MAX_BUDGET):
            raise ValueError(
                f"budget must be a whole number from 2 × population ({2 * self.population}) to {MAX_BUDGET}, "
                f"got {self.budget!r}"
            )

    def config(self) -> ProjectionConfig:
        return ProjectionConfig(
            method=self.method,
            transform=self.transform,
            budget=self.budget,
            population=self.population,
            object_extent=OBJECT_EXTENT,
        )


@dataclass(frozen=True)
class Projected:
    """A finished projection as plain data (fits ``gr.State``): the best member's z, c and φ*."""

    model: str
    space: str
    z: list[float]
    class_embedding: list[float] | None
    transform: list[float]


@dataclass(frozen=True)
class ProjectionFrame:
    """One streamed step for display. ``population`` is None when not refreshed this frame.

    transform: the current best φ (sx, sy, tx, ty, γ); boxed: the original target with the region φ
    frames drawn as a box; transform_note: φ in words (:func:`transform_text`); class_path: (forward passes, class) each time the best member's class changed
    (class-conditional generators; empty otherwise).

    best: the best generation so far; best_loss: its loss against the untouched target (the original
    frame, the frame of the final figure), never higher than an earlier frame's; loss_name: that loss's
    name; framed_target: the target under the current φ; pasted: on the last frame, the projection
    pasted into the original image.
    """

    stage: str
    evaluations: int
    budget: int
    best: Image.Image
    best_loss: float
    framed_target: Image.Image
    status: str
    loss_name: str = "loss"
    population: list[tuple[Image.Image, str]] | None = None
    pasted: Image.Image | None = None
    projected: Projected | None = None
    done: bool = False
    transform: tuple[float, ...] = (1.0, 1.0, 0.0, 0.0, 1.0)
    boxed: Image.Image | None = None
    transform_note: str = ""
    class_path: tuple[tuple[int, int], ...] = ()


def class_names(model_name: str) -> list[str]:
    """The class choices of a conditional model (``"0"``, ``"1"``, ...); empty for unconditional ones."""
    model = load_model(model_name)
    return [str(index) for index in range(model.num_classes)] if getattr(model, "conditional", False) else []


def predicted_class(model_name: str, image: Tensor, mask: Tensor | None = None) -> int | None:
    """The class the model's classifier reads in ``1 x 3 x H x W``, framed on the object box ``mask``
    (``1 x 1 x H x W``; default: :func:`object_box`) and contrast-stretched; None for unconditional models."""
    model = load_model(model_name)
    if not getattr(model, "conditional", False) or getattr(model, "classifier", None) is None:
        return None
    mask = mask if mask is not None else object_box(image)
    if mask is not None:  # the box, squared, fills the middle 3/4 of the frame (as MNIST centres its digits)
        phi = params_from_mask(mask, object_extent=CLASSIFIER_EXTENT)
        phi[:, :2] = phi[:, :2].amax(dim=1, keepdim=True)
        image = apply_transform(image, phi)
    low, high = image.amin(), image.amax()  # contrast stretched to [-1, 1]: dimmed targets read as well
    image = (image - low) / (high - low) * 2 - 1 if high > low else image
    return int(predict_class(model, image.to(default_device()))[0])


def object_box(image: Tensor) -> Tensor | None:
    """``1 x 1 x H x W`` box of one ``1 x C x H x W`` image's foreground (:func:`foreground_box`), None when it
    has none or it is the whole image (e.g. a photo)."""
    box = foreground_box(image)
    return box if bool(box.any()) else None


def shown(image: Tensor, side: int = DISPLAY_SIDE) -> Image.Image:
    """``3 x H x W`` in [-1, 1] as a PIL image enlarged by a whole factor (nearest) to at least ``side`` px."""
    picture = tensor_to_image(image)
    factor = max(1, -(-side // picture.width))
    return picture.resize((picture.width * factor, picture.height * factor), Image.Resampling.NEAREST)


class OriginalFrame:
    """Scores generations the way the final figure is scored: reprojected by φ⁻¹ into the target's frame
    and compared with the untouched target (``1 x C x H x W``, object ``mask`` or None) by the projection
    loss. The search stages score in the generator frame (the target under φ); those numbers differ."""

    def __init__(self, target: Tensor, mask: Tensor | None, *, beta: float, outside: float = OUTSIDE_WEIGHT):
        self.target = target
        self.weight = mask_weights(mask, target.shape, outside=outside).to(target.device)
        self.loss, self.name = make_projection_loss(beta=beta)

    def __call__(self, outputs: Tensor, phi: Tensor) -> list[float]:
        """The losses of ``N x C x H x W`` generations (generator frame) made under φ ``1 x 5``."""
        device, count = self.target.device, len(outputs)
        with torch.no_grad():
            back = invert_transform(outputs.to(device), phi.to(device).expand(count, -1))
            losses = self.loss(back, self.target.expand(count, -1, -1, -1), self.weight.expand(count, -1, -1, -1))
        return [float(value) for value in losses.cpu()]


def population_gallery(step: ProjectionStep, losses: list[float]) -> list[tuple[Image.Image, str]]:
    """Target 0's population of a step as (image, caption with its ``losses``); empty when the step kept none."""
    if step.population is None:
        return []
    return [(tensor_to_image(image), f"#{k} {losses[k]:.4f}") for k, image in enumerate(step.population[0])]


def best_original_loss(step: ProjectionStep, score: OriginalFrame) -> float:
    """The original-frame loss of a step's best generation: the one the search carries on (it ranks in the
    transformed frame, so a population member may score lower here; the final members are not chosen by it).
    Stage 1 reports it in the original frame already."""
    if step.stage == "transform":
        return float(step.best_loss[0])
    return score(step.best_output[:1], step.transform[:1])[0]


def population_losses(step: ProjectionStep, score: OriginalFrame) -> list[float]:
    """The original-frame losses of target 0's population (empty when the step kept none)."""
    if step.population is None:
        return []
    return step.losses[0].tolist() if step.stage == "transform" else score(step.population[0], step.transform[:1])


def _status(step: ProjectionStep, settings: ProjectionSettings, note: str) -> str:
    stage = {"transform": "transform search", "search": settings.method, "final": "final Adam"}.get(step.stage)
    parts = [f"{stage or step.stage} · {step.evaluations}/{settings.budget} forward passes", note]
    return " · ".join(part for part in parts if part)


@gpu
def device_projection(
    image: Tensor, mask: Tensor | None, settings: ProjectionSettings, refresh_seconds: float = 0.5
) -> Iterator[ProjectionFrame]:
    """The frames of one projection of ``1 x 3 x H x W`` (object ``mask`` ``1 x 1 x H x W`` or None)."""
    device = default_device()
    model = load_model(settings.model, device)
    mapping, note = get_mapping(settings.model, device) if settings.space == "z" else (None, "")
    labels = None if settings.label is None else torch.tensor([settings.label])
    config = settings.config()
    steps = project(model, image, mask=mask, mapping=mapping, labels=labels, config=config, seed=settings.seed)
    score = OriginalFrame(image.to(device), mask, beta=config.beta, outside=config.outside_weight)
    refresh = _Throttle(refresh_seconds)
    best_loss, best = float("inf"), None
    classes, path = ClassReader(model), ()
    for step in steps:
        if step.result is None and (loss := best_original_loss(step, score)) < best_loss:
            best_loss, best = loss, shown(step.best_output[0])  # the best so far, kept with its figure
        gallery = step.result is None and refresh.due()
        path = classes.extend(path, step)
        frame = ProjectionFrame(
            stage=step.stage,
            evaluations=step.evaluations,
            budget=settings.budget,
            best=best,
            best_loss=best_loss,
            framed_target=shown(step.transformed_target[0]),
            status=_status(step, settings, note),
            loss_name=score.name,
            population=population_gallery(step, population_losses(step, score)) if gallery else None,
            transform=tuple(float(value) for value in step.transform[0]),
            boxed=boxed_target(image[0], step.transform[0]),
            transform_note=transform_text(tuple(float(value) for value in step.transform[0]), image.shape[-1]),
            class_path=path,
        )
        yield frame if step.result is None else _final_frame(frame, step, settings, note)


MAX_CLASS_PATH = 24  # the class path keeps its first and latest changes, never more than this many


class ClassReader:
    """Reads which class a step's best member is nearest to: its class embedding c against the generator's
    embedding table (``num_classes x E``, built once per run); None for unconditional generators."""

    def __init__(self, model: torch.nn.Module):
        self.table = None
        if getattr(model, "conditional", False) and hasattr(model, "class_embedding"):
            device = next(model.parameters()).device
            with torch.no_grad():
                self.table = model.class_embedding(torch.arange(model.num_classes, device=device)).detach().cpu()

    def __call__(self, c: Tensor | None) -> int | None:
        if self.table is None or c is None:
            return None
        return int(torch.cdist(c[:1].float().cpu(), self.table.float()).argmin())

    def extend(self, path: tuple[tuple[int, int], ...], step: ProjectionStep) -> tuple[tuple[int, int], ...]:
        """``path`` with (forward passes, class) added when the step's best class differs from the last one."""
        label = self(step.class_embedding)
        if label is None or (path and path[-1][1] == label):
            return path
        path = (*path, (step.evaluations, label))
        return path if len(path) <= MAX_CLASS_PATH else (path[0], *path[-(MAX_CLASS_PATH - 1) :])


def frame_box(phi: Tensor | tuple[float, ...], width: int, height: int) -> tuple[float, float, float, float]:
    """The target region φ maps onto the generator frame, in target pixels (left, top, right, bottom): the
    generator's pixel p in [-1, 1]² reads the target at (sx·px + tx, sy·py + ty) (see engines.core.transforms)."""
    sx, sy, tx, ty = (float(value) for value in list(phi)[:4])
    left, right = sorted(((tx - sx + 1) / 2 * width, (tx + sx + 1) / 2 * width))
    top, bottom = sorted(((ty - sy + 1) / 2 * height, (ty + sy + 1) / 2 * height))
    return left, top, right, bottom


def boxed_target(image: Tensor, phi: Tensor, side: int = DISPLAY_SIDE) -> Image.Image:
    """``3 x H x W`` (the untouched target) enlarged like :func:`shown`, the region φ frames drawn as a box."""
    picture = shown(image, side).convert("RGB")
    factor = picture.width / image.shape[-1]
    box = [value * factor for value in frame_box(phi, image.shape[-1], image.shape[-2])]
    draw = ImageDraw.Draw(picture)
    width = max(2, picture.width // 80)
    draw.rectangle(box, outline=(255, 200, 0), width=width)
    return picture


def transform_text(phi: tuple[float, ...], size: int) -> str:
    """φ in words: the framed box in target pixels, the zoom, the shift and the brightness."""
    sx, sy, tx, ty, gamma = phi
    left, top, right, bottom = frame_box(phi, size, size)
    return (
        f"frame x {round(left)}–{round(right)}, y {round(top)}–{round(bottom)} px of {size} · zoom {1 / sx:.2f}×{1 / sy:.2f} · "
        f"shift ({tx:+.2f}, {ty:+.2f}) · brightness γ {gamma:.2f}"
    )


def class_path_text(path: tuple[tuple[int, int], ...]) -> str:
    """The class search's path in words: "class 3 at the start, class 7 after 240 forward passes" (the best
    member's class each time it changed); empty when there is none."""
    steps = [f"class {label} " + ("at the start" if passes == 0 else f"after {passes} forward passes") for passes, label in path]  # fmt: skip
    return ", then ".join(steps)


def _final_frame(
    frame: ProjectionFrame, step: ProjectionStep, settings: ProjectionSettings, note: str
) -> ProjectionFrame:
    result = step.result
    best = int(result.best_index[0])
    c = result.class_embedding
    projected = Projected(
        model=settings.model,
        space=settings.space,
        z=result.z[0, best].tolist(),
        class_embedding=None if c is None else c[0, best].tolist(),
        transform=result.transform[0].tolist(),
    )
    loss = float(result.original_losses[0, best])
    status = f"Done · {result.evaluations}/{settings.budget} forward passes · {result.loss_name} {loss:.4f}"
    if loss > frame.best_loss + 1e-4:  # the final stage kept none of an earlier, better generation
        status += f" (an earlier generation reached {frame.best_loss:.4f} but the final members do not include it)"
    return replace(
        frame,
        best=shown(result.output[0, best]),
        best_loss=loss,
        loss_name=result.loss_name,
        population=[
            (tensor_to_image(image), f"#{k} {member:.4f}")
            for k, (image, member) in enumerate(zip(result.output[0], result.original_losses[0].tolist()))
        ],
        status=" · ".join(part for part in (status, note) if part),
        pasted=shown(result.pasted[0, best]),
        projected=projected,
        done=True,
    )


def stream_spaces(
    image: Tensor, mask: Tensor | None, settings: list[ProjectionSettings], stop: threading.Event, **options
) -> Iterator[tuple[str, ProjectionFrame]]:
    """(space, frame) of one projection per settings (X and Z), their steps interleaved so both panes move
    together, until all are done or ``stop`` is set; a stopped one ends with a "Stopped at" frame."""
    streams = {item.space: device_projection(image, mask, item, **options) for item in settings}
    last: dict[str, ProjectionFrame] = {}
    try:
        while streams and not stop.is_set():
            for space, frames in list(streams.items()):
                frame = None if stop.is_set() else next(frames, None)
                if frame is None:
                    streams.pop(space).close()
                    continue
                last[space] = frame
                yield space, frame
    finally:
        for frames in streams.values():
            frames.close()
    for item in settings:
        if item.space in last and not last[item.space].done:
            status = f"Stopped at {last[item.space].evaluations}/{item.budget} forward passes"
            yield item.space, replace(last[item.space], status=status, done=True)


def stream_projection(
    image: Tensor, mask: Tensor | None, settings: ProjectionSettings, stop: threading.Event, **options
) -> Iterator[ProjectionFrame]:
    """Frames of :func:`device_projection` until done or stopped (``stop`` is checked before every step)."""
    last = None
    for frame in until_stopped(device_projection(image, mask, settings, **options), stop):
        last = frame
        yield frame
    if last is not None and not last.done:
        yield replace(last, status=f"Stopped at {last.evaluations}/{settings.budget} forward passes", done=True)


def until_stopped(frames: Iterator, stop: threading.Event) -> Iterator:
    """The items of ``frames`` until it ends or ``stop`` is set (checked before every item); closes it."""
    try:
        while not stop.is_set() and (frame := next(frames, None)) is not None:
            yield frame
    finally:
        frames.close()


@dataclass(frozen=True)
class TuningFrame:
    """One fine-tuning step for display: ``loss`` in the generator frame (what the tuning minimises);
    ``original_loss`` (first and last step only, else None) against the untouched target, the frame of the
    projection's final figure; ``pasted`` on the first and last step only."""

    index: int
    loss: float
    output: Image.Image
    pasted: Image.Image | None = None
    original_loss: float | None = None
    tuned: torch.nn.Module | None = None  # the tuned copy of G, last step only (kept server-side for edits)


@gpu
def device_fine_tune(image: Tensor, mask: Tensor | None, projected: Projected, steps: int) -> Iterator[TuningFrame]:
    """Fine-tune a per-run copy of G on a finished projection (the loaded model is never changed)."""
    device = default_device()
    model = load_model(projected.model, device)
    mapping = get_mapping(projected.model, device)[0] if projected.space == "z" else None
    phi = torch.tensor([projected.transform])
    c = None if projected.class_embedding is None else torch.tensor([projected.class_embedding])
    score = OriginalFrame(image.to(device), mask, beta=ProjectionConfig().beta)
    tuning = fine_tune(
        model, torch.tensor([projected.z]), image, mask=mask, mapping=mapping, class_embedding=c, transform=phi,
        steps=steps,
    )  # fmt: skip
    for step in tuning:
        last = step.generator is not None
        pasted = _pasted(image, mask, step.output, phi) if last or step.index == 0 else None
        original = score(step.output[:1], phi)[0] if last or step.index == 0 else None
        yield TuningFrame(step.index, float(step.losses[0]), shown(step.output[0]), pasted, original, step.generator)


def _pasted(image: Tensor, mask: Tensor | None, output: Tensor, phi: Tensor) -> Image.Image:
    """``output`` (generator frame) reprojected by φ⁻¹ and pasted into ``image`` inside the object mask."""
    inside = torch.ones_like(image[:, :1]) if mask is None else (mask > 0.5).float()
    return shown((inside * invert_transform(output, phi) + (1 - inside) * image)[0])


def object_mask(weight: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor | None:
    """``1 x 1 x S x S`` object mask: the bounding box of the painted (weight 0) pixels; when none is painted,
    the box of ``image``'s foreground (:func:`object_box`, e.g. a digit on black), else None (whole image)."""
    painted = weight[0, 0] == 0
    if not bool(painted.any()):
        return None if image is None else object_box(image)
    rows, cols = torch.nonzero(painted, as_tuple=True)
    mask = torch.zeros_like(weight)
    mask[0, 0, int(rows.min()) : int(rows.max()) + 1, int(cols.min()) : int(cols.max()) + 1] = 1
    return mask


def image_size(model: str) -> int:
    """Side of the square images ``model`` makes."""
    try:
        return int(load_model(model).output_shape[-1])
    except (ValueError, FileNotFoundError) as error:
        raise ValueError(f"model {model!r} cannot be loaded: {error}") from error


def projection_summary(spaces: dict[str, dict], budget: int) -> str:
    """One sentence: each space's final loss, and how Z ends against X when both ran."""
    finals = ", ".join(f"{name.upper()} {result['final_loss']:.4g}" for name, result in spaces.items())
    sentence = f"After {budget} forward passes: {finals}."
    if set(spaces) == {"x", "z"} and spaces["x"]["final_loss"] > 0:
        change = spaces["z"]["final_loss"] / spaces["x"]["final_loss"] - 1
        word = "level with" if abs(change) <= LEVEL else ("below" if change < 0 else "above")
        sentence += f" Z ends {'' if word == 'level with' else f'{abs(100 * change):.0f}% '}{word} X."
    return sentence
