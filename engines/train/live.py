"""What a live landscape-learning run of each model uses: its Algorithm 1 settings, training targets,
starting Θ, validation targets and probe settings (shared by ``engines.bench learn``, the "Learn Θ"
tab and the ``/learn`` API, so all three learn the same way).

The settings are the ones each shipped Θ was trained with (assets/manifest.json), chosen on
training data: digits ``digits-mapping`` (MNIST x_train), pose32 ``pose-mapping`` (cmu_mocap/train),
faces64 the first stage of ``mapping`` (CelebA 000001-008000). Only ``rounds`` is open: a live run
ends on its time budget.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from engines.core.learning import ProbeSettings
from engines.core.mapping import MappingConfig, MappingNetwork
from engines.core.trainer import TrainConfig

OPEN_ROUNDS = 100_000  # the budget ends a live run, not the round count
STARTS = ("random", "shipped")


@dataclass(frozen=True)
class LiveRecipe:
    """One model's live-learning settings: Algorithm 1's, Θ's shape and how many training targets."""

    train: TrainConfig
    hidden: int
    z_dim: int | None  # None: the model's input dimension
    targets: int
    data: str  # where the training targets come from, in words
    probe_loss: str = "mse+lpips"  # what the probe measures (the page's default; MSE where LPIPS is absent)


RECIPES: dict[str, LiveRecipe] = {
    "digits": LiveRecipe(
        TrainConfig(
            rounds=OPEN_ROUNDS,
            trajectories=128,
            steps=20,
            z_lr=0.1,
            mapping_lr=1e-3,
            weight_decay=0.1,
            updates_per_round=50,
            batch_size=128,
            buffer_rounds=10,
        ),  # fmt: skip
        hidden=512,
        z_dim=None,
        targets=4096,
        data="MNIST x_train, 4096 random digits",
    ),
    "pose32": LiveRecipe(
        TrainConfig(
            rounds=OPEN_ROUNDS,
            trajectories=256,
            steps=200,
            z_lr=0.05,
            mapping_lr=1e-3,
            weight_decay=0.0,
            updates_per_round=100,
            batch_size=256,
            buffer_rounds=5,
            online=True,
        ),  # fmt: skip
        hidden=512,
        z_dim=128,
        targets=0,  # every 16th frame of cmu_mocap/train
        data="cmu_mocap/train, every 16th frame",
        probe_loss="mse",
    ),
    "faces64": LiveRecipe(
        TrainConfig(
            rounds=OPEN_ROUNDS,
            trajectories=128,
            steps=20,
            z_lr=0.1,
            mapping_lr=1e-3,
            weight_decay=0.1,
            updates_per_round=50,
            batch_size=128,
            buffer_rounds=10,
        ),  # fmt: skip
        hidden=1024,
        z_dim=None,
        targets=8000,
        data="CelebA 000001-008000",
    ),
}


def live_models() -> list[str]:
    """Models a live run can learn Θ for (a recipe and the model's weights present)."""
    from engines.models.registry import available_models

    present = set(available_models())
    return [name for name in RECIPES if name in present]


def recipe(model: str, *, seed: int = 0) -> LiveRecipe:
    if model not in RECIPES:
        raise ValueError(f"no live-learning recipe for model {model!r}; choose from {sorted(RECIPES)}")
    found = RECIPES[model]
    return dataclasses.replace(found, train=dataclasses.replace(found.train, seed=seed))


def training_targets(model: str, *, seed: int = 0) -> Tensor:
    """The model's training targets (training split only), ``N x output_shape`` on the CPU."""
    from engines.io.data import cached_image_set, data_path

    if model == "digits":
        from engines.models.digits.training import load_mnist

        images, _ = load_mnist(data_path("mnist.npz"), "train")
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[: RECIPES[model].targets]
        return images[order].expand(-1, 3, -1, -1).contiguous()
    if model == "pose32":
        from engines.models.pose.data import load_poses
        from engines.models.pose.skeleton import load_skeleton

        return load_poses(data_path("cmu_mocap") / "train", load_skeleton(), every=16)
    if model == "faces64":
        from engines.models.faces.model import CELEBA_TRAIN

        return cached_image_set(data_path("celeba"), 64, start=CELEBA_TRAIN.start, limit=CELEBA_TRAIN.stop)
    raise ValueError(f"no training targets for model {model!r}")


def start_mapping(model: str, forward: nn.Module, start: str, *, seed: int = 0) -> nn.Module:
    """Θ to learn from: ``"random"`` (seeded) or ``"shipped"`` (a trainable copy of the model's shipped Θ)."""
    if start not in STARTS:
        raise ValueError(f"start must be one of {STARTS}, got {start!r}")
    if start == "shipped":
        from engines.models.registry import load_mapping

        return copy.deepcopy(load_mapping(model, "cpu")).train().requires_grad_(True)
    found = recipe(model)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        config = MappingConfig(z_dim=found.z_dim or forward.input_dim, x_dim=forward.input_dim, hidden=found.hidden)
        return MappingNetwork(config)


def validation_targets(model: str, forward, folder: Path, count: int) -> Tensor:
    """The first ``count`` targets of ``folder`` as the model sees them: images (sorted, prepared as the
    Image tab does) or, for pose32, ``count`` poses evenly spaced over the folder's clips."""
    if model == "pose32":
        from engines.models.pose.data import evenly_spaced_poses
        from engines.models.pose.skeleton import load_skeleton

        return evenly_spaced_poses(Path(folder), getattr(forward, "skeleton", None) or load_skeleton(), count)
    from engines.io.images import list_images

    paths = list_images(Path(folder))[:count]
    if not paths:
        raise ValueError(f"no images in {folder}")
    return torch.stack([forward.prepare_target(path)[0] for path in paths])


def probe_settings(model: str) -> ProbeSettings:
    """The model's inversion defaults (``assets/<model>_defaults.json``, chosen on training data) under its
    recipe's probe loss: MSE + LPIPS for images, as the page and ``bench inversion`` default to (MSE where
    the LPIPS weights are absent), MSE for poses."""
    from engines.core.evaluation import inversion_defaults
    from engines.core.losses import resolve_loss_name

    defaults = inversion_defaults(model)
    return ProbeSettings(
        x_lr=defaults.x_lr,
        z_lr=defaults.z_lr,
        handoff=defaults.handoff,
        handoff_lr=defaults.handoff_lr,
        loss=resolve_loss_name(recipe(model).probe_loss),
    )
