"""pix2latent's projection objective: masked L1 + β · masked LPIPS (β = 10).

The weight mask is 1 inside the object box and 0.3 outside (:func:`mask_weights`); for LPIPS it is
resized bilinearly to every AlexNet feature map and each layer's distance map is averaged under it
(pix2latent, Appendix B). LPIPS runs :func:`engines.core.losses.lpips_network` (offline weights);
where that is unavailable the objective is masked L1 alone, and :func:`make_projection_loss` says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engines.core.losses import l1_loss, lpips_network

logger = logging.getLogger(__name__)

BETA = 10.0
OUTSIDE_WEIGHT = 0.3
MIN_SIDE = 64  # AlexNet needs at least ~31 pixels a side: smaller images are upsampled to 64


def mask_weights(mask: Tensor | None, shape: tuple[int, ...], *, outside: float = OUTSIDE_WEIGHT) -> Tensor:
    """Object mask ``B x 1 x H x W`` (1 = object) -> weights 1 inside, ``outside`` elsewhere.

    ``mask=None`` means the whole image is the object: all weights 1, shape ``B x 1 x H x W``
    taken from ``shape`` (a ``B x C x H x W`` output shape).
    """
    if mask is None:
        return torch.ones(shape[0], 1, *shape[-2:])
    if mask.dim() != 4 or mask.shape[1] != 1 or tuple(mask.shape[-2:]) != tuple(shape[-2:]):
        raise ValueError(f"mask must be B x 1 x {shape[-2]} x {shape[-1]}, got {tuple(mask.shape)}")
    return outside + (1 - outside) * (mask > 0.5).float()


class MaskedLPIPS(nn.Module):
    """LPIPS (AlexNet, 5 layers) with the weight mask resized bilinearly to each layer's feature map.

    network: an ``lpips.LPIPS`` module (its ``scaling_layer``, ``net`` and ``lins`` are used).
    Called with ``B x C x H x W`` images in [-1, 1] (C = 1 or 3) and a ``B|1 x 1 x H x W`` weight
    -> ``B`` (sum over layers of the weighted mean distance).
    """

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def features(self, image: Tensor) -> list[Tensor]:
        """Unit-normalised AlexNet features of each LPIPS layer."""
        taps = self.network.net(self.network.scaling_layer(image))
        return [tap / (tap.square().sum(1, keepdim=True).sqrt() + 1e-10) for tap in taps]

    def forward(self, output: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        if output.shape[1] == 1:
            output, target = output.expand(-1, 3, -1, -1), target.expand(-1, 3, -1, -1)
        if weight is None:
            weight = torch.ones(1, 1, *output.shape[-2:], device=output.device)
        weight = weight.to(output).expand(output.shape[0], 1, *output.shape[-2:])
        if min(output.shape[-2:]) < 32:
            size = [round(side * MIN_SIDE / min(output.shape[-2:])) for side in output.shape[-2:]]
            output, target, weight = (
                F.interpolate(image, size=size, mode="bilinear", align_corners=False)
                for image in (output, target, weight)
            )
        known = (weight > 0).to(output.dtype)  # unknown pixels are grey in both images
        total = output.new_zeros(output.shape[0])
        for layer, (first, second) in enumerate(zip(self.features(output * known), self.features(target * known))):
            distance = self.network.lins[layer]((first - second).square())  # B x 1 x h x w
            resized = F.interpolate(weight, size=distance.shape[-2:], mode="bilinear", align_corners=False)
            total = total + (distance * resized).flatten(1).sum(1) / resized.flatten(1).sum(1).clamp_min(1e-8)
        return total


_masked_lpips: dict[str, MaskedLPIPS | None] = {}


def masked_lpips() -> MaskedLPIPS | None:
    """The shared :class:`MaskedLPIPS`, or ``None`` when LPIPS cannot run offline."""
    if "alex" not in _masked_lpips:
        try:
            network = lpips_network()
        except Exception as error:  # a broken install must not break projection
            logger.warning("LPIPS unavailable (%s)", error)
            network = None
        _masked_lpips["alex"] = MaskedLPIPS(network) if network is not None else None
    return _masked_lpips["alex"]


ProjectionLoss = Callable[[Tensor, Tensor, "Tensor | None"], Tensor]


def make_projection_loss(*, beta: float = BETA, use_lpips: bool = True) -> tuple[ProjectionLoss, str]:
    """The objective ``(output, target, weight) -> B`` and its name.

    ``"l1+10*lpips"`` when LPIPS runs (β > 0 and ``use_lpips``), else ``"l1"`` (said in the name and logged:
    "LPIPS unavailable: masked L1 alone").
    """
    metric = masked_lpips() if use_lpips and beta > 0 else None
    if use_lpips and beta > 0 and metric is None:
        logger.warning("LPIPS unavailable: the projection loss is masked L1 alone")
    if metric is None:
        return l1_loss, "l1"

    def loss(output: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        metric.to(output.device)
        return l1_loss(output, target, weight) + beta * metric(output, target, weight)

    return loss, f"l1+{beta:g}*lpips"
