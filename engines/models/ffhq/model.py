"""The FFHQ face models as F: ``ffhq64`` (X = z, through the 8-layer mapping network: the paper's setting;
x = z − z_origin, a translation only, so that x = 0 is a typical z near the average face) and ``ffhq64-w``
(X = w − w_avg, one w for every layer, the common inversion space; x = 0 is the average face).

Both draw 64×64 images with the fast model of :mod:`engines.models.ffhq.fast` (MobileStyleGAN's first blocks,
a distilled student block and head: ``assets/ffhq64_fast``), and render any input at 1024² with the full
converted network (:meth:`FFHQForward.render_full`, about a second on 2 cores). Targets are aligned the FFHQ
way (:func:`engines.models.faces.align.align_face` with ``crop="ffhq"``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from engines.io.checkpoint import assets_present, load_tensors, resolve_asset
from engines.io.images import image_to_tensor, prepare_image, to_rgb
from engines.models.ffhq.fast import FastFace, FastFaceConfig
from engines.models.ffhq.network import MobileStyleGAN
from engines.models.ffhq.weights import GENERATOR_ASSET, load_mobilestylegan
from engines.models.registry import ForwardModel

SPACES = {"ffhq64": "z", "ffhq64-w": "w", "ffhq128": "z", "ffhq128-w": "w"}
FAST_ASSETS = {
    "ffhq64": "ffhq64_fast",
    "ffhq64-w": "ffhq64_fast",
    "ffhq128": "ffhq128_fast",
    "ffhq128-w": "ffhq128_fast",
}


class FFHQForward(ForwardModel):
    """F: ``B x 512`` (z, or w − w_avg) -> image ``B x 3 x S x S`` in about [-1, 1] (S = 64 or 128)."""

    output_kind = "image"
    face_crop = "ffhq"
    input_dim = 512

    def __init__(self, generator: MobileStyleGAN, fast: FastFace, space: str = "z"):
        super().__init__()
        if space not in ("z", "w"):
            raise ValueError(f"FFHQ input space must be 'z' or 'w', got {space!r}")
        self.generator, self.fast, self.space = generator, fast, space
        size = fast.config.resolution
        self.output_shape = (3, size, size)

    def to_w(self, x: Tensor) -> Tensor:
        """The style ``B x 512`` of inputs ``x``: ``mapping(z_origin + x)`` for X = z (x = 0 is a typical z near
        the average face, not the pixel norm's singular z = 0), ``w_avg + x`` for X = w."""
        mapping = self.generator.mapping
        return mapping(mapping.z_origin + x) if self.space == "z" else mapping.w_avg + x

    def forward(self, x: Tensor) -> Tensor:
        return self.fast(self.to_w(x))

    @torch.no_grad()
    def render_full(self, x: Tensor) -> Tensor:
        """The full network's ``B x 3 x 1024 x 1024`` image of inputs ``x`` (one at a time, to bound memory)."""
        return torch.cat([self.generator.synthesise(self.to_w(row[None])) for row in x])

    def prepare_target(self, source: Any) -> tuple[Tensor, str]:
        """The FFHQ-aligned crop of a face photo (the centre crop when no face is found)."""
        tensor, _, notice = self.prepare_known_target(source)
        return tensor, notice

    def prepare_known_target(self, source: Any) -> tuple[Tensor, Tensor | None, str]:
        """The FFHQ-aligned crop, its known pixels (0 where the crop lies mostly outside the photo) and a notice."""
        from engines.models.faces.align import UNKNOWN_SHARE, align_face

        size = self.output_shape[-1]
        if isinstance(source, (str, Path)):
            with Image.open(source) as opened:
                image = to_rgb(opened)
        elif isinstance(source, Image.Image):
            image = to_rgb(source)
        else:
            prepared = prepare_image(source, size)
            return prepared.tensor, None, prepared.notice
        face, info = align_face(image, size, self.face_crop)
        if info.outside is None:
            return image_to_tensor(face), None, info.notice
        known = torch.from_numpy(info.outside < UNKNOWN_SHARE).float()[None]
        return image_to_tensor(face), (None if bool(known.all()) else known), info.notice


@functools.cache
def load_fast(asset: str) -> FastFace:
    """The fast model ``asset`` (``ffhq64_fast``) on the shared converted generator, frozen."""
    path = resolve_asset(asset)
    tensors, meta = load_tensors(path)
    fast = FastFace(load_mobilestylegan().synthesis, FastFaceConfig.from_dict(meta["model"]))
    missing, unexpected = fast.load_state_dict({name: value.float() for name, value in tensors.items()}, strict=False)
    if unexpected or any(not name.startswith("synthesis.") for name in missing):
        raise ValueError(f"{path} does not fit FastFace({meta['model']}): missing {missing}, unexpected {unexpected}")
    return fast.eval().requires_grad_(False)


def load_ffhq(name: str) -> FFHQForward:
    """The registered model ``name`` (``ffhq64``, ``ffhq64-w``, ...)."""
    return FFHQForward(load_mobilestylegan(), load_fast(FAST_ASSETS[name]), SPACES[name])


def ffhq_available(name: str) -> bool:
    return assets_present(GENERATOR_ASSET, FAST_ASSETS[name])
