"""StyleGAN2's generator (Karras et al. 2020) in plain PyTorch ops: no CUDA extension to compile.

Parameter names follow the official StyleGAN2-ADA PyTorch code (``mapping.fc0.weight``,
``synthesis.b8.conv0.affine.bias``, ...), so its network pickles map one to one;
:mod:`engines.models.stylegan2.convert` renames the rosinality port's layout. The custom CUDA ops
of both are replaced by their definitions: ``upfirdn2d`` is zero-insertion, padding and a
depthwise FIR convolution; ``bias_act`` is bias, leaky ReLU (0.2) and a gain of √2.
Noise inputs are the stored constant noise maps (``noise_mode='const'``), so F is deterministic.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LRELU_GAIN = math.sqrt(2)


@dataclass(frozen=True, kw_only=True)
class StyleGAN2Config:
    """Shape of a generator: ``channels[i]`` features at resolution ``4 * 2**i`` up to ``resolution``."""

    resolution: int
    channels: tuple[int, ...]
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    conv_clamp: float | None = None

    def __post_init__(self) -> None:
        log2 = math.log2(self.resolution) if self.resolution > 0 else 0
        if self.resolution < 4 or log2 != int(log2):
            raise ValueError(f"StyleGAN2Config.resolution must be a power of two >= 4, got {self.resolution}")
        if len(self.channels) != int(log2) - 1 or min(self.channels) < 1:
            raise ValueError(
                f"StyleGAN2Config.channels needs {int(log2) - 1} positive widths (4x4 .. {self.resolution})"
            )
        if min(self.z_dim, self.w_dim, self.mapping_layers) < 1:
            raise ValueError("StyleGAN2Config: z_dim, w_dim and mapping_layers must be >= 1")
        object.__setattr__(self, "channels", tuple(int(width) for width in self.channels))

    @property
    def num_ws(self) -> int:
        """How many style vectors the synthesis network reads (2 per resolution, 4x4 counts as 2)."""
        return 2 * int(math.log2(self.resolution)) - 2

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> StyleGAN2Config:
        return cls(**{**data, "channels": tuple(data["channels"])})


def fir_kernel(gain: float = 1.0) -> Tensor:
    """The ``[1, 3, 3, 1]`` binomial filter as a normalised ``4 x 4`` kernel, times ``gain``."""
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = taps[:, None] * taps[None, :]
    return kernel / kernel.sum() * gain


def upfirdn2d(x: Tensor, kernel: Tensor, *, up: int = 1, pad: tuple[int, int] = (0, 0)) -> Tensor:
    """Upsample by zero insertion, pad ``(before, after)`` on both axes, then convolve every channel
    with ``kernel`` (a true convolution, as the CUDA op): ``B x C x H x W`` -> ``B x C x H' x W'``."""
    batch, channels, height, width = x.shape
    if up > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape(batch, channels, height * up, width * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    weight = kernel.flip([0, 1]).to(x.dtype)[None, None].repeat(channels, 1, 1, 1)
    return F.conv2d(x, weight, groups=channels)


def bias_act(x: Tensor, bias: Tensor, *, lrelu: bool, gain: float = 1.0, clamp: float | None = None) -> Tensor:
    """``x + bias`` (per channel), then leaky ReLU 0.2 if ``lrelu``, times ``gain``, clamped to ``±clamp``."""
    x = x + bias.reshape(1, -1, *([1] * (x.dim() - 2)))
    if lrelu:
        x = F.leaky_relu(x, 0.2)
    x = x * gain if gain != 1 else x
    return x.clamp(-clamp, clamp) if clamp is not None else x


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, *, demodulate: bool, up: bool = False) -> Tensor:
    """Each sample's convolution with ``weight`` (``O x I x k x k``) scaled by its ``styles`` (``B x I``),
    demodulated to unit norm per output channel; ``up`` doubles the resolution (transposed conv + FIR)."""
    batch, in_channels, height, width = x.shape
    out_channels, _, kernel_size, _ = weight.shape
    w = weight[None] * styles[:, None, :, None, None]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()[:, :, None, None, None]
    x = x.reshape(1, batch * in_channels, height, width)
    if up:
        w = w.transpose(1, 2).reshape(batch * in_channels, out_channels, kernel_size, kernel_size)
        x = F.conv_transpose2d(x, w, stride=2, groups=batch)
        x = upfirdn2d(x, fir_kernel(gain=4.0).to(x.device), pad=(1, 1))
    else:
        w = w.reshape(batch * out_channels, in_channels, kernel_size, kernel_size)
        x = F.conv2d(x, w, padding=kernel_size // 2, groups=batch)
    return x.reshape(batch, out_channels, *x.shape[2:])


class FullyConnected(nn.Module):
    """Equalised-learning-rate linear layer: ``B x in`` -> ``B x out`` (weights stored divided by ``lr``)."""

    def __init__(self, width_in: int, width_out: int, *, lrelu: bool, lr: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(width_out, width_in) / lr)
        self.bias = nn.Parameter(torch.full((width_out,), float(bias_init)))
        self.weight_gain, self.bias_gain, self.lrelu = lr / math.sqrt(width_in), lr, lrelu

    def forward(self, x: Tensor) -> Tensor:
        x = x @ (self.weight * self.weight_gain).T
        return bias_act(x, self.bias * self.bias_gain, lrelu=self.lrelu, gain=LRELU_GAIN if self.lrelu else 1.0)


class MappingNetwork(nn.Module):
    """``z`` (``B x z_dim``) -> ``w`` (``B x w_dim``); ``w_avg`` is the running mean of ``w``."""

    def __init__(self, config: StyleGAN2Config):
        super().__init__()
        widths = [config.z_dim] + [config.w_dim] * config.mapping_layers
        for index in range(config.mapping_layers):
            layer = FullyConnected(widths[index], widths[index + 1], lrelu=True, lr=config.mapping_lr_multiplier)
            setattr(self, f"fc{index}", layer)
        self.layers = config.mapping_layers
        self.register_buffer("w_avg", torch.zeros(config.w_dim))

    def forward(self, z: Tensor) -> Tensor:
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for index in range(self.layers):
            x = getattr(self, f"fc{index}")(x)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution, constant noise, bias and leaky ReLU (optionally upsampling 2x)."""

    def __init__(self, width_in: int, width_out: int, *, w_dim: int, resolution: int, up: bool, clamp: float | None):
        super().__init__()
        self.affine = FullyConnected(w_dim, width_in, lrelu=False, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(width_out, width_in, 3, 3))
        self.bias = nn.Parameter(torch.zeros(width_out))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.up, self.clamp = up, clamp

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = modulated_conv2d(x, self.weight, self.affine(w), demodulate=True, up=self.up)
        x = x + self.noise_const * self.noise_strength
        clamp = self.clamp * LRELU_GAIN if self.clamp is not None else None
        return bias_act(x, self.bias, lrelu=True, gain=LRELU_GAIN, clamp=clamp)


class ToRGB(nn.Module):
    """Modulated 1x1 convolution to 3 channels (not demodulated) plus bias."""

    def __init__(self, width_in: int, *, w_dim: int, clamp: float | None):
        super().__init__()
        self.affine = FullyConnected(w_dim, width_in, lrelu=False, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(3, width_in, 1, 1))
        self.bias = nn.Parameter(torch.zeros(3))
        self.weight_gain, self.clamp = 1 / math.sqrt(width_in), clamp

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = modulated_conv2d(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False)
        return bias_act(x, self.bias, lrelu=False, clamp=self.clamp)


class SynthesisBlock(nn.Module):
    """One resolution: (``const`` at 4x4 | upsampling ``conv0``), ``conv1``, ``torgb`` added to the
    upsampled image of the previous block ("skip" architecture)."""

    def __init__(self, width_in: int, width_out: int, resolution: int, config: StyleGAN2Config):
        super().__init__()
        layer = dict(w_dim=config.w_dim, resolution=resolution, clamp=config.conv_clamp)
        if resolution == 4:
            self.const = nn.Parameter(torch.randn(width_out, 4, 4))
        else:
            self.conv0 = SynthesisLayer(width_in, width_out, up=True, **layer)
        self.conv1 = SynthesisLayer(width_out, width_out, up=False, **layer)
        self.torgb = ToRGB(width_out, w_dim=config.w_dim, clamp=config.conv_clamp)
        self.resolution = resolution

    def forward(self, x: Tensor | None, image: Tensor | None, ws: Tensor) -> tuple[Tensor, Tensor]:
        """``ws``: ``B x 3 x w_dim`` (``B x 2`` at 4x4) for conv0, conv1 and torgb."""
        if self.resolution == 4:
            x = self.const[None].expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, ws[:, 0])
        else:
            x = self.conv1(self.conv0(x, ws[:, 0]), ws[:, 1])
        rgb = self.torgb(x, ws[:, -1])
        if image is not None:
            image = upfirdn2d(image, fir_kernel(gain=4.0).to(image.device), up=2, pad=(2, 1))
        return x, rgb if image is None else image + rgb


class SynthesisNetwork(nn.Module):
    """``ws`` (``B x num_ws x w_dim``) -> image ``B x 3 x R x R``."""

    def __init__(self, config: StyleGAN2Config):
        super().__init__()
        self.resolutions = [4 * 2**index for index in range(len(config.channels))]
        widths = (config.channels[0],) + config.channels
        for index, resolution in enumerate(self.resolutions):
            setattr(self, f"b{resolution}", SynthesisBlock(widths[index], widths[index + 1], resolution, config))

    def forward(self, ws: Tensor) -> Tensor:
        x = image = None
        for index, resolution in enumerate(self.resolutions):
            # block i reads ws[2i-1 .. 2i+1]: its torgb's w is the next block's conv0 w (as in StyleGAN2)
            block_ws = ws[:, :2] if resolution == 4 else ws[:, 2 * index - 1 : 2 * index + 2]
            x, image = getattr(self, f"b{resolution}")(x, image, block_ws)
        return image


class Generator(nn.Module):
    """StyleGAN2: ``z`` -> ``w`` (mapping) -> image (synthesis, the same ``w`` at every layer)."""

    def __init__(self, config: StyleGAN2Config):
        super().__init__()
        self.config = config
        self.mapping = MappingNetwork(config)
        self.synthesis = SynthesisNetwork(config)

    def synthesise(self, w: Tensor) -> Tensor:
        """``B x w_dim`` -> ``B x 3 x R x R`` (roughly in [-1, 1])."""
        return self.synthesis(w[:, None].expand(-1, self.config.num_ws, -1))

    def forward(self, z: Tensor) -> Tensor:
        return self.synthesise(self.mapping(z))
