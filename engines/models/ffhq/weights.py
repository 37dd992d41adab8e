"""The converted MobileStyleGAN asset: ``assets/ffhq_generator.safetensors`` (+ ``.json``).

Made once by ``python -m engines.train mobilestylegan-weights --wheel random_face-2021.7.21.1-py3-none-any.whl``
(the wheel from ``pip download --no-deps random-face==2021.7.21.1``; never installed). Stored in float16 when
that keeps the 1024² output within 45 dB PSNR of float32; loaded as float32.
"""

from __future__ import annotations

import functools

import torch

from engines.io.checkpoint import load_module_state, load_tensors, resolve_asset
from engines.models.ffhq.network import MobileStyleGAN

GENERATOR_ASSET = "ffhq_generator"
WHEEL = "random_face-2021.7.21.1-py3-none-any.whl"
FETCH = "pip download --no-deps random-face==2021.7.21.1"
CONVERT = f"python -m engines.train mobilestylegan-weights --wheel {WHEEL}"
LICENCE = (
    "weights derived from NVIDIA's StyleGAN2 FFHQ (config-f) by MobileStyleGAN distillation (Belousov 2021): "
    "NVIDIA Source Code License-NC, non-commercial research use; random-face code Apache-2.0"
)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image of two ``B x C x H x W`` batches in [-1, 1] (peak-to-peak 2)."""
    mse = (a.float() - b.float()).square().flatten(1).mean(1)
    return 10 * torch.log10(4.0 / mse.clamp(min=1e-12))


@functools.cache
def load_mobilestylegan() -> MobileStyleGAN:
    """The converted generator in eval mode, frozen, float32 on the CPU (loaded once)."""
    try:
        path = resolve_asset(GENERATOR_ASSET)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{error}. The wheel: {FETCH}") from None
    tensors, _ = load_tensors(path)
    model = load_module_state(MobileStyleGAN(), {name: value.float() for name, value in tensors.items()}, path)
    return model.eval().requires_grad_(False)
