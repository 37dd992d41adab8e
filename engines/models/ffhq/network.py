"""MobileStyleGAN (Belousov 2021, arXiv 2104.04767), the FFHQ generator distilled from StyleGAN2 config-f,
in plain PyTorch ops, laid out as its OpenVINO export computes it.

- **Mapping** ``z`` (``B x 512``) -> ``w``: pixel norm, then 8 × (linear, leaky ReLU 0.2, × √2); the
  equalised-learning-rate scales are already folded into the stored weights.
- **Synthesis** ``w`` -> image: a learned 4×4 constant, a modulated 3×3 convolution, then 7 blocks. Each
  block upsamples by an inverse Haar wavelet transform (the features, scaled per channel by an affine of w,
  are read as 1/4 low band and 3/4 high bands), then two modulated *depthwise-separable* convolutions
  (per-channel style scale, depthwise 3×3, pointwise 1×1; the style-independent demodulation is folded
  into the pointwise weights), each adding its stored constant noise map and a bias before a leaky ReLU.
  The last block's ``to_img`` (modulated 1×1 convolution to 12 wavelet channels at 512²) and a final
  inverse Haar transform give the 1024² RGB image, roughly in [-1, 1].

Block ``i`` works at ``8 * 2**i`` (8 … 512); :meth:`MobileSynthesis.features` stops after any block,
which is how the fast 64² model of :mod:`engines.models.ffhq.fast` starts.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

STYLE_DIM = 512
MAPPING_LAYERS = 8
BLOCK_CHANNELS = (512, 512, 512, 512, 256, 128, 64)  # output channels of blocks 0..6 (8² … 512²)
INPUT_CHANNELS = 512
IMAGE_CHANNELS = 12  # 3 RGB × (low band + 3 high bands)
LRELU_SLOPE, LRELU_GAIN = 0.2, math.sqrt(2)


def haar_inverse(bands: Tensor) -> Tensor:
    """Inverse 2D Haar transform: ``B x 4C x H x W`` -> ``B x C x 2H x 2W``. Channels ``0..C-1`` are the low
    band; the rest, read as ``C x 3``, the LH, HL and HH bands of each channel (pytorch_wavelets'
    ``DWTInverse(wave='db1')`` on ``(low, [high.view(B, C, 3, H, W)])``, as MobileStyleGAN calls it)."""
    batch, channels4, height, width = bands.shape
    channels = channels4 // 4
    low = bands[:, :channels]
    lh, hl, hh = bands[:, channels:].reshape(batch, channels, 3, height, width).unbind(2)
    top_left = low + lh + hl + hh
    top_right = low + lh - hl - hh
    bottom_left = low - lh + hl - hh
    bottom_right = low - lh - hl + hh
    stacked = torch.stack([top_left, top_right, bottom_left, bottom_right], dim=2) * 0.5  # B x C x 4 x H x W
    return F.pixel_shuffle(stacked.reshape(batch, channels * 4, height, width), 2)


def haar_forward(image: Tensor) -> Tensor:
    """The Haar analysis that :func:`haar_inverse` undoes: ``B x C x 2H x 2W`` -> ``B x 4C x H x W``."""
    a, b = image[:, :, 0::2, 0::2], image[:, :, 0::2, 1::2]
    c, d = image[:, :, 1::2, 0::2], image[:, :, 1::2, 1::2]
    low, lh, hl, hh = a + b + c + d, a + b - c - d, a - b + c - d, a - b - c + d
    high = torch.stack([lh, hl, hh], dim=2).flatten(1, 2)  # B x 3C, channel-major as haar_inverse reads it
    return torch.cat([low, high], dim=1) * 0.5


class Affine(nn.Module):
    """Style affine ``w -> s``: ``B x 512`` -> ``B x channels`` (any constant scale folded in)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels, STYLE_DIM))
        self.bias = nn.Parameter(torch.ones(channels))

    def forward(self, w: Tensor) -> Tensor:
        return F.linear(w, self.weight, self.bias)


class MappingNetwork(nn.Module):
    """``z`` (``B x 512``) -> ``w`` (``B x 512``); ``w_avg`` is the mean w of 100,000 random z, ``z_origin`` a z
    of typical length whose w is near ``w_avg`` (where X = z starts: the pixel norm makes z = 0 a singular start,
    from which Adam's first step jumps to an extreme w)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(MAPPING_LAYERS, STYLE_DIM, STYLE_DIM))
        self.bias = nn.Parameter(torch.zeros(MAPPING_LAYERS, STYLE_DIM))
        self.register_buffer("w_avg", torch.zeros(STYLE_DIM))
        self.register_buffer("z_origin", torch.zeros(STYLE_DIM))

    def forward(self, z: Tensor) -> Tensor:
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for weight, bias in zip(self.weight, self.bias, strict=True):
            x = F.leaky_relu(F.linear(x, weight, bias), LRELU_SLOPE) * LRELU_GAIN
        return x


class StyledConv(nn.Module):
    """Modulated convolution + constant noise + bias + leaky ReLU, ``B x in x H x W`` -> ``B x out x H x W``.

    ``depthwise`` (MobileStyleGAN's blocks): style scale, depthwise 3×3, pointwise 1×1. Otherwise (the 4×4
    layer): style scale and a full 3×3 convolution. Demodulation is style-independent here, folded into the
    stored weights by the export."""

    def __init__(self, channels_in: int, channels_out: int, resolution: int, *, depthwise: bool):
        super().__init__()
        self.modulation = Affine(channels_in)
        if depthwise:
            self.depthwise = nn.Parameter(torch.zeros(channels_in, 1, 3, 3))
            self.pointwise = nn.Parameter(torch.zeros(channels_out, channels_in, 1, 1))
        else:
            self.weight = nn.Parameter(torch.zeros(channels_out, channels_in, 3, 3))
        self.noise = nn.Parameter(torch.zeros(1, 1, resolution, resolution))
        self.bias = nn.Parameter(torch.zeros(1, channels_out, 1, 1))
        self.is_depthwise = depthwise

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = x * self.modulation(w)[:, :, None, None]
        if self.is_depthwise:
            x = F.conv2d(x, self.depthwise, padding=1, groups=x.shape[1])
            x = F.conv2d(x, self.pointwise)
        else:
            x = F.conv2d(x, self.weight, padding=1)
        return F.leaky_relu(x + self.noise + self.bias, LRELU_SLOPE)


class ToImage(nn.Module):
    """Modulated 1×1 convolution to the 12 wavelet channels (no demodulation) plus bias."""

    def __init__(self, channels_in: int):
        super().__init__()
        self.modulation = Affine(channels_in)
        self.weight = nn.Parameter(torch.zeros(IMAGE_CHANNELS, channels_in, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, IMAGE_CHANNELS, 1, 1))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        return F.conv2d(x * self.modulation(w)[:, :, None, None], self.weight) + self.bias


class SynthesisBlock(nn.Module):
    """Inverse-Haar upsampling (style-scaled), then two depthwise-separable styled convolutions:
    ``B x in x H x W`` -> ``B x out x 2H x 2W``."""

    def __init__(self, channels_in: int, channels_out: int, resolution: int):
        super().__init__()
        self.up = Affine(channels_in)
        self.conv1 = StyledConv(channels_in // 4, channels_out, resolution, depthwise=True)
        self.conv2 = StyledConv(channels_out, channels_out, resolution, depthwise=True)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = haar_inverse(x * self.up(w)[:, :, None, None])
        return self.conv2(self.conv1(x, w), w)


class MobileSynthesis(nn.Module):
    """``w`` (``B x 512``, the same w for every layer) -> image ``B x 3 x 1024 x 1024``."""

    def __init__(self):
        super().__init__()
        self.input = nn.Parameter(torch.zeros(1, INPUT_CHANNELS, 4, 4))
        self.conv1 = StyledConv(INPUT_CHANNELS, INPUT_CHANNELS, 4, depthwise=False)
        channels_in = (INPUT_CHANNELS,) + BLOCK_CHANNELS[:-1]
        self.blocks = nn.ModuleList(
            SynthesisBlock(width_in, width_out, 8 * 2**index)
            for index, (width_in, width_out) in enumerate(zip(channels_in, BLOCK_CHANNELS, strict=True))
        )
        self.to_img = ToImage(BLOCK_CHANNELS[-1])

    def features(self, w: Tensor, blocks: int = len(BLOCK_CHANNELS)) -> Tensor:
        """Features after the first ``blocks`` blocks: ``B x C x R x R`` with ``R = 4 * 2**blocks``."""
        if not 0 <= blocks <= len(self.blocks):
            raise ValueError(f"blocks must be in 0..{len(self.blocks)}, got {blocks}")
        x = self.first(w)
        for block in self.blocks[:blocks]:
            x = block(x, w)
        return x

    def first(self, w: Tensor) -> Tensor:
        """The 4×4 layer: ``conv(input ⊙ s(w))``. The input is a constant, so the convolution is linear in the
        style: ``Σ_c s_c · conv(input_c)``, one ``B x 512`` by ``512 x 8192`` product with the per-channel
        responses computed once (9× fewer operations than the convolution; the same result). Frozen weights
        only: with trainable ones the convolution runs as written."""
        conv = self.conv1
        if conv.weight.requires_grad or self.input.requires_grad:
            return conv(self.input.expand(w.shape[0], -1, -1, -1), w)
        basis = self._responses()
        x = (conv.modulation(w) @ basis.flatten(1)).reshape(w.shape[0], *basis.shape[1:])
        return F.leaky_relu(x + conv.noise + conv.bias, LRELU_SLOPE)

    def _responses(self) -> Tensor:
        """``512 x 512 x 4 x 4``: the 4×4 convolution's output from each input channel alone (cached per weights)."""
        key = (self.conv1.weight.data_ptr(), self.input.data_ptr(), self.conv1.weight.device, self.conv1.weight.dtype)
        cached = getattr(self, "_response_cache", None)
        if cached is None or cached[0] != key:
            channels_out, channels_in = self.conv1.weight.shape[:2]
            weight = self.conv1.weight.transpose(0, 1).reshape(channels_in * channels_out, 1, 3, 3)
            with torch.no_grad():
                responses = F.conv2d(self.input, weight, padding=1, groups=channels_in)
            cached = (key, responses.reshape(channels_in, channels_out, 4, 4))
            object.__setattr__(self, "_response_cache", cached)
        return cached[1]

    def forward(self, w: Tensor) -> Tensor:
        return haar_inverse(self.to_img(self.features(w), w))


class MobileStyleGAN(nn.Module):
    """The whole generator: ``z`` -> ``w`` -> 1024² image; :meth:`synthesise` starts from ``w``."""

    def __init__(self):
        super().__init__()
        self.mapping = MappingNetwork()
        self.synthesis = MobileSynthesis()

    def synthesise(self, w: Tensor) -> Tensor:
        return self.synthesis(w)

    def forward(self, z: Tensor) -> Tensor:
        return self.synthesis(self.mapping(z))
