"""Fast FFHQ face models for the page: MobileStyleGAN's first blocks, a light student block, a new image head.

The full network renders 1024² in about a second on 2 cores, far too slow to stream three optimisers. Its
first ``blocks`` blocks are kept exactly (frozen, shared with the full network); then, optionally, one
*student* block of MobileStyleGAN's kind with fewer channels (``student`` > 0, started from the next teacher
block's most useful channels), and a modulated head to 12 wavelet channels whose inverse Haar transform
doubles the size. ``blocks=2, student=256`` gives a 64² image from 16² teacher features. Student and head are
distilled on area downsamples of the full network's 1024² renders of random styles
(``python -m engines.train ffhq-fast``), so the fast image agrees with what the full network draws for the
same w (the agreement is measured on styles not used in fitting and saved with the weights).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engines.models.ffhq.network import (
    BLOCK_CHANNELS,
    IMAGE_CHANNELS,
    Affine,
    MobileSynthesis,
    SynthesisBlock,
    haar_inverse,
)


@dataclass(frozen=True, kw_only=True)
class FastFaceConfig:
    """``blocks`` of MobileStyleGAN kept, the ``student`` block's channels (0: none) and the head's
    ``kernel`` (1 or 3). The image side is ``8 * 2**blocks``, doubled by a student block."""

    blocks: int = 3
    student: int = 0
    kernel: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.blocks <= len(BLOCK_CHANNELS) - 1:
            raise ValueError(f"FastFaceConfig.blocks must be in 1..{len(BLOCK_CHANNELS) - 1}, got {self.blocks}")
        if self.kernel not in (1, 3):
            raise ValueError(f"FastFaceConfig.kernel must be 1 or 3, got {self.kernel}")
        if self.student < 0 or (self.student and self.blocks >= len(BLOCK_CHANNELS) - 1):
            raise ValueError(f"FastFaceConfig.student must be >= 0 and follow a block before the last, got {self}")

    @property
    def resolution(self) -> int:
        return 8 * 2 ** (self.blocks + (1 if self.student else 0))

    @property
    def channels(self) -> int:
        """Channels of the features the head reads."""
        return self.student or BLOCK_CHANNELS[self.blocks - 1]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FastFaceConfig:
        return cls(**data)


class ImageHead(nn.Module):
    """Modulated ``kernel``² convolution to 12 wavelet channels plus bias, then an inverse Haar transform:
    features ``B x C x R x R`` and ``w`` -> image ``B x 3 x 2R x 2R``. The modulation starts at 1 (weight 0)."""

    def __init__(self, channels: int, kernel: int = 1):
        super().__init__()
        self.modulation = Affine(channels)
        self.weight = nn.Parameter(
            torch.randn(IMAGE_CHANNELS, channels, kernel, kernel) / math.sqrt(channels * kernel**2)
        )
        self.bias = nn.Parameter(torch.zeros(1, IMAGE_CHANNELS, 1, 1))
        self.kernel = kernel

    def bands(self, features: Tensor, w: Tensor) -> Tensor:
        modulated = features * self.modulation(w)[:, :, None, None]
        return F.conv2d(modulated, self.weight, padding=self.kernel // 2) + self.bias

    def forward(self, features: Tensor, w: Tensor) -> Tensor:
        return haar_inverse(self.bands(features, w))


class FastFace(nn.Module):
    """``w`` (``B x 512``) -> image ``B x 3 x S x S`` with ``S = config.resolution``: the first
    ``config.blocks`` blocks of ``synthesis`` (shared with the full network, frozen), the student block
    (when ``config.student``) and the fitted :class:`ImageHead`. Only :meth:`own_state` is saved."""

    def __init__(self, synthesis: MobileSynthesis, config: FastFaceConfig):
        super().__init__()
        self.synthesis, self.config = synthesis, config
        if config.student:
            resolution = 8 * 2**config.blocks
            self.student = SynthesisBlock(BLOCK_CHANNELS[config.blocks - 1], config.student, resolution)
        self.head = ImageHead(config.channels, config.kernel)

    def head_features(self, trunk: Tensor, w: Tensor) -> Tensor:
        """What the head reads, from the teacher trunk's features ``trunk``."""
        return self.student(trunk, w) if self.config.student else trunk

    def forward(self, w: Tensor) -> Tensor:
        trunk = self.synthesis.features(w, self.config.blocks)
        return self.head(self.head_features(trunk, w), w)

    def own_state(self) -> dict[str, Tensor]:
        """The fitted weights (student and head), without the shared teacher's."""
        return {name: value for name, value in self.state_dict().items() if not name.startswith("synthesis.")}
