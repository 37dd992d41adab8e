"""The expressive last stage of a face inversion: after Z→X, continue in an intermediate feature map of
the same, frozen generator (the way StyleGAN inversions move on to W+).

``F = tail ∘ head``: :class:`GeneratorTail` is "the generator from layer L on" as a forward model with
``input_dim`` / ``output_shape``, so :func:`engines.core.optim.invert` runs it like any other F (X-space
of the tail). It starts at ``head(x_ZX)``, the features of the Z→X solution, where it reproduces that
image exactly, and an L2 pull towards those features keeps what the target does not constrain (masked
pixels) close to the Z→X face. :func:`fidelity_steps` chains the two stages with one running step index.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from engines.core.optim import Step, invert
from engines.models.faces.model import FaceGenerator
from engines.models.registry import ForwardModel

# Where the tail starts, by feature-map side: the index into ``FaceDecoder.body`` of the first tail layer
# (the maps after the base Linear and after each upsampling's PixelNorm).
FEATURE_LAYERS = {"4x4": 0, "8x8": 3, "16x16": 6, "32x32": 9}
# What the last stage moves: "features", the whole feature map at ``layer`` (pulled towards Z→X's); or
# "channels", the latent plus a scale and a bias per channel of every feature map from ``layer`` on (pulled
# towards none); or "detail", the feature map's high spatial frequencies only (its 4×4 block means stay Z→X's),
# which keeps the layout the generator gave the image.
MODES = ("features", "channels", "detail")


@dataclass(frozen=True, kw_only=True)
class LastStage:
    """Settings of the last stage (chosen on CelebA training faces 7201–7216 against non-face controls, issue 27:
    the largest non-face / face ratio of the final loss among settings that bring faces below 0.05;
    docs/fidelity.md has the figures).

    layer: the feature map optimised (a key of :data:`FEATURE_LAYERS`). lr: its Adam learning rate.
    pull: weight of the per-item mean squared distance to the Z→X features. share: the fraction of the
    total step budget given to this stage (the rest runs Z→X). mode: what it moves (:data:`MODES`).
    """

    layer: str = "4x4"
    lr: float = 0.05
    pull: float = 0.01
    share: float = 0.5
    mode: str = "features"

    def __post_init__(self) -> None:
        if self.layer not in FEATURE_LAYERS:
            raise ValueError(f"layer must be one of {sorted(FEATURE_LAYERS)}, got {self.layer!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not self.lr > 0 or self.pull < 0 or not 0 <= self.share < 1:
            raise ValueError("LastStage needs lr > 0, pull >= 0 and 0 <= share < 1")

    def split(self, steps: int) -> tuple[int, int]:
        """(Z→X steps, last-stage steps) of a total of ``steps``."""
        last = int(round(steps * self.share))
        return steps - last, last


class GeneratorTail(ForwardModel):
    """The face generator from feature map ``layer`` on: ``B x (C*H*W)`` features -> ``B x 3 x S x S``."""

    output_kind = "image"

    def __init__(self, generator: FaceGenerator, layer: str):
        super().__init__()
        if layer not in FEATURE_LAYERS:
            raise ValueError(f"layer must be one of {sorted(FEATURE_LAYERS)}, got {layer!r}")
        self.generator = generator
        self.start = FEATURE_LAYERS[layer]
        with torch.no_grad():
            probe = self.head(torch.zeros(1, generator.input_dim, device=_device(generator)))
        self.feature_shape = tuple(probe.shape[1:])
        self.input_dim = probe[0].numel()
        self.output_shape = generator.output_shape

    def head(self, latent: Tensor) -> Tensor:
        """``B x latent_dim`` -> the feature map ``B x C x H x W`` where the tail starts."""
        decoder = self.generator.decoder
        features = decoder.base(latent).view(-1, decoder.first, 4, 4)
        return decoder.body[: self.start](features)

    def features(self, latent: Tensor) -> Tensor:
        """``B x latent_dim`` -> the tail's inputs ``B x input_dim``."""
        return self.head(latent).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.generator.decoder.body[self.start :](x.view(-1, *self.feature_shape))

    def prepare_target(self, source: Any) -> tuple[Tensor, str]:
        return self.generator.prepare_target(source)


class ModulatedGenerator(ForwardModel):
    """The face generator with its latent and a per-channel scale and bias on each feature map from ``layer``
    on (the 4×4 map after the base layer and every map after a PixelNorm): ``B x (latent_dim + 2 * channels)``
    -> ``B x 3 x S x S``. Zero modulation is the generator itself: ``forward([latent, 0]) == generator(latent)``.
    """

    output_kind = "image"

    def __init__(self, generator: FaceGenerator, layer: str):
        super().__init__()
        if layer not in FEATURE_LAYERS:
            raise ValueError(f"layer must be one of {sorted(FEATURE_LAYERS)}, got {layer!r}")
        self.generator = generator
        decoder = generator.decoder
        maps = [-1] + [index for index, module in enumerate(decoder.body) if type(module).__name__ == "PixelNorm"]
        self.points = [index for index in maps if index >= FEATURE_LAYERS[layer] - 1]
        with torch.no_grad():
            widths, features = {}, decoder.base(torch.zeros(1, generator.input_dim, device=_device(generator)))
            features = features.view(1, decoder.first, 4, 4)
            widths[-1] = features.shape[1]
            for index, module in enumerate(decoder.body):
                features = module(features)
                widths[index] = features.shape[1]
        self.widths = [widths[index] for index in self.points]
        self.latent_dim = generator.input_dim
        self.input_dim = self.latent_dim + 2 * sum(self.widths)
        self.output_shape = generator.output_shape

    def forward(self, x: Tensor) -> Tensor:
        decoder = self.generator.decoder
        latent, modulation = x[:, : self.latent_dim], x[:, self.latent_dim :]
        scales = dict(zip(self.points, modulation[:, : sum(self.widths)].split(self.widths, dim=1)))
        biases = dict(zip(self.points, modulation[:, sum(self.widths) :].split(self.widths, dim=1)))

        def modulated(features: Tensor, index: int) -> Tensor:
            if index not in scales:
                return features
            return features * (1 + scales[index][:, :, None, None]) + biases[index][:, :, None, None]

        features = modulated(decoder.base(latent).view(-1, decoder.first, 4, 4), -1)
        for index, module in enumerate(decoder.body):
            features = modulated(module(features), index)
        return features

    def prepare_target(self, source: Any) -> tuple[Tensor, str]:
        return self.generator.prepare_target(source)


class DetailTail(ForwardModel):
    """A :class:`GeneratorTail` that takes only the high spatial frequencies of a change to ``anchor``
    (``B x input_dim``): ``tail(anchor + d - blockmean(d))`` with ``d = x - anchor`` and 4×4 blocks of the map's
    side / 4, so the map's coarse layout stays the anchor's."""

    output_kind = "image"

    def __init__(self, tail: GeneratorTail, anchor: Tensor):
        super().__init__()
        self.tail, self.anchor = tail, anchor
        self.input_dim, self.output_shape = tail.input_dim, tail.output_shape

    def forward(self, x: Tensor) -> Tensor:
        change = (x - self.anchor).view(-1, *self.tail.feature_shape)
        block = max(self.tail.feature_shape[-1] // 4, 1)
        coarse = torch.nn.functional.avg_pool2d(change, block)
        detail = change - torch.nn.functional.interpolate(coarse, scale_factor=block, mode="nearest")
        return self.tail(self.anchor + detail.flatten(1))

    def prepare_target(self, source: Any) -> tuple[Tensor, str]:
        return self.tail.prepare_target(source)


def face_in_target(image: Tensor) -> bool:
    """Whether MTCNN finds a face in ``image`` (``3 x S x S`` or ``1 x 3 x S x S`` in [-1, 1]), the pixels the
    model is asked to reproduce (its default smallest face, 20 px, fits a 64×64 crop's face). The gate of the
    last stage: it runs only on targets where this holds (it would fit almost any image)."""
    from engines.models.faces.align import face_detector

    pixels = ((image.detach().reshape(-1, *image.shape[-2:])[:3].cpu().float().clamp(-1, 1) + 1) * 127.5).round()
    return len(face_detector().detect(np.ascontiguousarray(pixels.byte().permute(1, 2, 0).numpy()))) > 0


def _device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


def fidelity_steps(
    generator: FaceGenerator,
    mapping: torch.nn.Module,
    targets: Tensor,
    *,
    steps: int,
    handoff: int,
    z_lr: float,
    x_lr: float,
    last: LastStage | None = None,
    loss: str = "mse+lpips",
    weight: Tensor | None = None,
    keep_output: bool | Callable[[int], bool] = True,
) -> Iterator[Step]:
    """Z→X for ``steps - last-stage steps`` steps, then the last stage: ``steps + 1`` :class:`Step` objects.

    targets: ``B x 3 x S x S`` in [-1, 1]. The Z→X steps say ``space`` "z" / "x" (their ``x`` is ``B x
    latent_dim``); the last stage's say "feature" and hold the feature map ``B x input_dim`` of
    :class:`GeneratorTail` as ``x`` and ``z``. Its first step is the Z→X result itself (same image).
    keep_output: a bool or a function of the (running) step index, as in :func:`invert`.
    """
    last = last or LastStage()
    zx_steps, last_steps = last.split(steps)
    options = dict(loss=loss, weight=weight, keep_output=keep_output)
    final = None
    for step in invert(
        generator, targets, mapping=mapping, lr=z_lr, handoff=min(handoff, zx_steps), handoff_lr=x_lr,
        steps=zx_steps, **options,
    ):  # fmt: skip
        if step.index < zx_steps or last_steps == 0:
            yield step
        final = step
    if last_steps:
        steps_after = last_stage_steps(
            generator, targets, final.x, last=last, steps=last_steps, first_index=zx_steps, **options
        )
        yield from steps_after


def last_stage_steps(
    generator: FaceGenerator,
    targets: Tensor,
    latent: Tensor,
    *,
    last: LastStage | None = None,
    steps: int,
    first_index: int = 0,
    loss: str = "mse+lpips",
    weight: Tensor | None = None,
    keep_output: bool | Callable[[int], bool] = True,
) -> Iterator[Step]:
    """The last stage alone, from the latents ``B x latent_dim`` (e.g. a Z→X result): ``steps + 1`` steps
    (``space`` "feature", indices from ``first_index``), the first reproducing ``generator(latent)``.
    keep_output: a bool, or a function of the step index (counted from ``first_index``)."""
    last = last or LastStage()
    latent = latent.to(_device(generator))
    if last.mode == "channels":
        tail = ModulatedGenerator(generator, last.layer)
        anchor = torch.cat([latent, latent.new_zeros(len(latent), tail.input_dim - tail.latent_dim)], dim=1)

        def pull(inputs: Tensor) -> Tensor:
            return last.pull * inputs[:, tail.latent_dim :].square().mean(dim=1)

    else:
        tail = GeneratorTail(generator, last.layer)
        with torch.no_grad():
            anchor = tail.features(latent)
        if last.mode == "detail":
            tail = DetailTail(tail, anchor)

        def pull(features: Tensor) -> Tensor:
            return last.pull * (features - anchor).square().mean(dim=1)

    want = keep_output if callable(keep_output) else (lambda _index: keep_output)
    options = dict(loss=loss, weight=weight, keep_output=lambda index: want(first_index + index))
    for step in invert(tail, targets, z_init=anchor, lr=last.lr, steps=steps, penalty=pull, **options):
        yield dataclasses.replace(step, index=first_index + step.index, space="feature")
