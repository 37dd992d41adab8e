"""Per-item reconstruction losses with optional per-element weight masks.

Every loss maps ``(output, target, weight)`` to a ``B`` vector, one value per
item, so that targets and hypotheses stay independent batch entries. ``weight``
broadcasts against ``output`` (``B x 1 x H x W`` for an image mask, ``B x D``
for a pose mask); weight 0 means "unknown, does not count".

LPIPS uses the ``lpips`` package only when its AlexNet backbone weights are on
disk already (torch hub cache or ``LPIPS_ALEXNET_PATH``); otherwise the image
losses fall back to pixel MSE with a single logged notice. Nothing here ever
downloads.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

LossFn = Callable[[Tensor, Tensor, "Tensor | None"], Tensor]

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


def check_weight(weight: Tensor | None, output: Tensor) -> Tensor | None:
    """Validate a weight mask against ``output``; raise ``ValueError`` if unusable."""
    if weight is None:
        return None
    weight = weight.to(device=output.device, dtype=output.dtype)
    try:
        torch.broadcast_shapes(weight.shape, output.shape)
    except RuntimeError as error:
        raise ValueError(
            f"mask of shape {tuple(weight.shape)} does not fit an output of shape {tuple(output.shape)}"
        ) from error
    if weight.shape[0] not in (1, output.shape[0]):
        raise ValueError(f"mask batch {weight.shape[0]} does not fit output batch {output.shape[0]}")
    per_item = weight.expand(output.shape).flatten(1).sum(1)
    if bool((per_item <= 0).any()):
        raise ValueError("the mask hides everything: at least one pixel or joint must stay known")
    return weight


def _weighted_mean(error: Tensor, weight: Tensor | None) -> Tensor:
    """Mean of ``error`` over all but the batch dimension, weighted by ``weight``."""
    if weight is None:
        return error.flatten(1).mean(1)
    weight = weight.expand(error.shape)
    return (error * weight).flatten(1).sum(1) / weight.flatten(1).sum(1)


def mse_loss(output: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Weighted mean squared error per item: ``B x ...`` -> ``B``."""
    return _weighted_mean((output - target).square(), weight)


def l1_loss(output: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Weighted mean absolute error per item: ``B x ...`` -> ``B``."""
    return _weighted_mean((output - target).abs(), weight)


def find_alexnet_weights() -> Path | None:
    """Return a local AlexNet checkpoint for LPIPS, or ``None`` if there is none."""
    candidates = []
    if os.environ.get("LPIPS_ALEXNET_PATH"):
        candidates.append(Path(os.environ["LPIPS_ALEXNET_PATH"]))
    candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE)
    return next((path for path in candidates if path.is_file()), None)


class LPIPSLoss(torch.nn.Module):
    """LPIPS (AlexNet) per item, with the mask applied to its spatial distance map."""

    def __init__(self, backbone_path: Path):
        super().__init__()
        import lpips  # imported lazily: it pulls in torchvision

        self.metric = lpips.LPIPS(net="alex", spatial=True, pnet_rand=True, verbose=False)
        state = torch.load(backbone_path, map_location="cpu", weights_only=True)
        features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
        alexnet = self.metric.net
        for slice_ in (alexnet.slice1, alexnet.slice2, alexnet.slice3, alexnet.slice4, alexnet.slice5):
            for name, layer in slice_.named_children():
                if isinstance(layer, torch.nn.Conv2d):
                    layer.weight.data.copy_(features[f"{name}.weight"])
                    layer.bias.data.copy_(features[f"{name}.bias"])
        self.metric.eval().requires_grad_(False)

    def forward(self, output: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        distance = self.metric(output, target, normalize=False)  # B x 1 x H x W, inputs in [-1, 1]
        if weight is not None and weight.dim() == 4:
            weight = torch.nn.functional.interpolate(
                weight.expand(output.shape[0], 1, *weight.shape[-2:]), size=distance.shape[-2:], mode="area"
            )
        return _weighted_mean(distance, weight)


_lpips_cache: dict[str, LPIPSLoss | None] = {}


def lpips_available() -> bool:
    """True when LPIPS can run offline (package importable and backbone on disk)."""
    return _get_lpips() is not None


def _get_lpips() -> LPIPSLoss | None:
    if "alex" not in _lpips_cache:
        path = find_alexnet_weights()
        metric = None
        if path is None:
            logger.warning(
                "LPIPS unavailable: AlexNet weights %s not found in %s (or LPIPS_ALEXNET_PATH); "
                "using pixel MSE instead.",
                ALEXNET_FILE,
                Path(torch.hub.get_dir()) / "checkpoints",
            )
        else:
            try:
                metric = LPIPSLoss(path)
            except Exception as error:  # a broken install must not break inversion
                logger.warning("LPIPS unavailable (%s); using pixel MSE instead.", error)
        _lpips_cache["alex"] = metric
    return _lpips_cache["alex"]


def mse_lpips_loss(output: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """MSE + LPIPS (the paper's image objective); pixel MSE alone when LPIPS is unavailable."""
    metric = _get_lpips()
    loss = mse_loss(output, target, weight)
    if metric is not None:
        metric.to(output.device)
        loss = loss + metric(output, target, weight)
    return loss


LOSSES: dict[str, LossFn] = {
    "mse": mse_loss,
    "l1": l1_loss,
    "mse+lpips": mse_lpips_loss,
}


def resolve_loss_name(name: str) -> str:
    """The name of the objective that will really run (``mse+lpips`` degrades to ``mse``)."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {sorted(LOSSES)}")
    if name == "mse+lpips" and not lpips_available():
        return "mse"
    return name


def get_loss(name: str) -> LossFn:
    """Look a loss up by name (see ``LOSSES``)."""
    return LOSSES[resolve_loss_name(name)]
