"""The embedded pose prior ``pose32``: a VPoser-style VAE decoder, latent 32 -> body pose.

F maps ``B x 32`` latents through an MLP to a continuous 6D rotation per body joint, then to
axis-angle: ``B x 66`` (22 joints × 3, order in :mod:`engines.models.pose.skeleton`). Trained by
``python -m engines.train pose-prior`` on subsampled frames of ``cmu_mocap/train``; its Θ
(Z 128 -> X 32) by ``python -m engines.train pose-mapping``. When ``SMPLX_MODEL_DIR`` and
``VPOSER_DIR`` hold valid files, ``vposer`` (the official VPoser V02_05, 63-d SMPL-X body pose)
is registered too.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from engines.core.mapping import MappingNetwork, load_mapping_file
from engines.io.checkpoint import load_module_state, load_tensors, resolve_asset, save_module
from engines.models.pose.rotations import axis_angle_to_rotation_6d, canonical_axis_angle, rotation_6d_to_axis_angle
from engines.models.pose.skeleton import BODY_JOINTS, NUM_BODY_JOINTS, POSE_DIM, Skeleton
from engines.models.registry import ForwardModel

logger = logging.getLogger(__name__)

GENERATOR_ASSET = "pose32_generator"
MAPPING_ASSET = "pose32_mapping"


@dataclass(frozen=True, kw_only=True)
class PoseVAEConfig:
    """Architecture of the pose VAE (VPoser V02 shape: latent 32, 512 hidden units)."""

    latent_dim: int = 32
    hidden: int = 512
    joints: int = NUM_BODY_JOINTS
    negative_slope: float = 0.2

    def __post_init__(self) -> None:
        for name in ("latent_dim", "hidden", "joints"):
            if getattr(self, name) < 1:
                raise ValueError(f"PoseVAEConfig.{name} must be >= 1")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PoseVAEConfig:
        return cls(**data)


class PoseDecoder(nn.Module):
    """``B x latent`` -> ``B x joints*3`` axis-angle (via continuous 6D rotations)."""

    def __init__(self, config: PoseVAEConfig):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(config.latent_dim, config.hidden),
            nn.LeakyReLU(config.negative_slope),
            nn.Linear(config.hidden, config.hidden),
            nn.LeakyReLU(config.negative_slope),
            nn.Linear(config.hidden, config.joints * 6),
        )

    def forward(self, latent: Tensor) -> Tensor:
        d6 = self.net(latent).view(latent.shape[0], -1, 6)
        return rotation_6d_to_axis_angle(d6).flatten(1)


class PoseEncoder(nn.Module):
    """``B x joints*3`` axis-angle -> (mean, log-variance), each ``B x latent`` (training only)."""

    def __init__(self, config: PoseVAEConfig):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(config.joints * 6, config.hidden),
            nn.LeakyReLU(config.negative_slope),
            nn.Linear(config.hidden, config.hidden),
            nn.LeakyReLU(config.negative_slope),
            nn.Linear(config.hidden, 2 * config.latent_dim),
        )

    def forward(self, pose: Tensor) -> tuple[Tensor, Tensor]:
        d6 = axis_angle_to_rotation_6d(pose.view(pose.shape[0], -1, 3)).flatten(1)
        mean, log_var = self.net(d6).chunk(2, dim=1)
        return mean, log_var.clamp(-12, 6)


def pose_from_source(source: Any, dim: int = POSE_DIM) -> Tensor:
    """A body pose ``dim`` vector from a tensor/array/list (``dim`` or ``dim/3 x 3``)."""
    pose = torch.as_tensor(np.asarray(source, dtype=np.float32)).flatten()
    if pose.numel() != dim:
        raise ValueError(f"a pose target needs {dim} axis-angle values ({dim // 3} joints x 3), got {pose.numel()}")
    if not torch.isfinite(pose).all():
        raise ValueError("the pose target contains NaN or infinite values")
    return pose


class PosePrior(ForwardModel):
    """F for poses: latent ``B x 32`` -> body pose ``B x 66`` (axis-angle, angles in [0, π])."""

    output_kind = "pose"

    def __init__(self, config: PoseVAEConfig, skeleton: Skeleton | None = None):
        super().__init__()
        self.config = config
        self.decoder = PoseDecoder(config)
        self.input_dim = config.latent_dim
        self.output_shape = (config.joints * 3,)
        self.joint_names = BODY_JOINTS[: config.joints]
        self.skeleton = skeleton

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(x)

    def prepare_target(self, source: Any) -> tuple[Tensor, str]:
        """A ``66`` axis-angle pose (any angle range) -> its canonical form and a notice."""
        pose = pose_from_source(source, self.output_shape[0])
        canonical = canonical_axis_angle(pose.view(-1, 3)).flatten()
        wrapped = bool((pose - canonical).abs().max() > 1e-4)
        return canonical, "rotations wrapped to angles in [0, π]" if wrapped else ""


@dataclass(frozen=True, kw_only=True)
class PoseTrainConfig:
    """Pose VAE training: reconstruction is the summed squared axis-angle and 6D error."""

    epochs: int = 60
    batch_size: int = 256
    lr: float = 1e-3
    kl_weight: float = 5e-3
    seed: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def train_pose_vae(
    poses: Tensor, model_config: PoseVAEConfig, train_config: PoseTrainConfig, *, device: torch.device | str = "cpu"
) -> Iterator[dict]:
    """Train the pose VAE on ``N x 66`` poses on ``device``; yields a dict per epoch (the last holds ``decoder``)."""
    torch.manual_seed(train_config.seed)
    encoder, decoder = PoseEncoder(model_config).to(device), PoseDecoder(model_config).to(device)
    poses = poses.to(device)
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=train_config.lr)
    batches = max(len(poses) // train_config.batch_size, 1)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=train_config.lr, total_steps=train_config.epochs * batches
    )
    for epoch in range(train_config.epochs):
        order = torch.randperm(len(poses))
        sums = {"reconstruction": 0.0, "kl": 0.0}
        for batch_index in range(batches):
            batch = poses[order[batch_index * train_config.batch_size : (batch_index + 1) * train_config.batch_size]]
            mean, log_var = encoder(batch.to(device))
            latent = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
            decoded = decoder(latent)
            reconstruction = (decoded - batch).square().sum(1).mean() + (
                axis_angle_to_rotation_6d(decoded.view(-1, 3)) - axis_angle_to_rotation_6d(batch.view(-1, 3))
            ).square().sum() / len(batch)
            kl = 0.5 * (mean.square() + log_var.exp() - 1 - log_var).sum(1).mean()
            loss = reconstruction + train_config.kl_weight * kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            sums["reconstruction"] += reconstruction.item() / batches
            sums["kl"] += kl.item() / batches
        yield {"epoch": epoch + 1, **sums, "decoder": decoder, "encoder": encoder}


def save_prior(path: Path, decoder: PoseDecoder, config: PoseVAEConfig, skeleton: Skeleton, extra: dict) -> None:
    meta = {
        "kind": "pose32-generator",
        "model": config.to_dict(),
        "joints": list(BODY_JOINTS),
        "skeleton": skeleton.to_dict(),
    }
    save_module(path, decoder, {**meta, **extra})


def load_prior(path: Path | None = None) -> PosePrior:
    """``pose32`` from ``assets/pose32_generator.safetensors`` (or ``path``)."""
    path = path or resolve_asset(GENERATOR_ASSET)
    tensors, meta = load_tensors(path)
    skeleton = Skeleton.from_dict(meta["skeleton"]) if "skeleton" in meta else None
    model = PosePrior(PoseVAEConfig.from_dict(meta["model"]), skeleton)
    load_module_state(model.decoder, tensors, path)
    return model


def load_pose_mapping(path: Path | None = None) -> MappingNetwork:
    """Θ of ``pose32`` (Z 128 -> X 32) from ``assets/pose32_mapping.safetensors`` (or ``path``)."""
    return load_mapping_file(path or resolve_asset(MAPPING_ASSET))
