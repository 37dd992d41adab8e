"""Training commands for the pose prior, added to ``python -m engines.train``:

python -m engines.train --threads 1 pose-prior --every 4 --epochs 40
python -m engines.train --threads 1 pose-mapping --rounds 30
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from engines.core.device import add_device_argument, resolve_device
from engines.io.checkpoint import ASSETS_DIR, register_asset, save_tensors
from engines.io.data import data_path
from engines.train.common import (
    add_algorithm1_arguments,
    add_run_arguments,
    command_line,
    start_processes,
    train_config_from_args,
)

CMU_LICENCE = (
    "CMU mocap: free for all uses; acknowledge: The data used in this project was obtained from "
    "mocap.cs.cmu.edu. The database was created with funding from NSF EIA-0196217."
)


def train_prior(args: argparse.Namespace) -> None:
    from engines.models.pose.data import load_poses
    from engines.models.pose.fk import forward_kinematics
    from engines.models.pose.model import GENERATOR_ASSET, PoseTrainConfig, PoseVAEConfig, save_prior, train_pose_vae
    from engines.models.pose.render import skeleton_grid
    from engines.models.pose.skeleton import load_skeleton

    skeleton = load_skeleton()
    poses = load_poses(data_path("cmu_mocap") / "train", skeleton, every=args.every)
    model_config = PoseVAEConfig(latent_dim=args.latent_dim)
    train_config = PoseTrainConfig(epochs=args.epochs, lr=args.lr, kl_weight=args.kl_weight, seed=args.seed)
    started = time.time()
    for record in train_pose_vae(poses, model_config, train_config, device=resolve_device(args.device)):
        print(f"epoch {record['epoch']}: reconstruction {record['reconstruction']:.4f}, kl {record['kl']:.2f}")
    decoder = record["decoder"].eval().cpu()
    path = ASSETS_DIR / f"{GENERATOR_ASSET}.safetensors"
    extra = {
        "train": train_config.to_dict(),
        "poses": len(poses),
        "every": args.every,
        "seconds": round(time.time() - started),
    }
    save_prior(path, decoder, model_config, skeleton, extra)
    register_asset(
        GENERATOR_ASSET,
        path,
        data=f"../shared/data/cmu_mocap/train, every {args.every}th frame",
        licence=CMU_LICENCE,
        command=command_line(),
    )
    with torch.no_grad():
        samples = decoder(torch.randn(16, model_config.latent_dim, generator=torch.Generator().manual_seed(0)))
    skeleton_grid(skeleton, forward_kinematics(skeleton, samples), columns=8, size=128).save(
        ASSETS_DIR / "pose32_samples.png"
    )
    print(f"saved {path} and {ASSETS_DIR / 'pose32_samples.png'}")


def random_joint_masks(targets: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per-target observed-joint masks ``N x 66``: all joints, upper or lower body, or random subsets."""
    from engines.models.pose.skeleton import LOWER_BODY, UPPER_BODY, joint_weight

    presets = torch.cat([joint_weight(UPPER_BODY), joint_weight(LOWER_BODY)])
    count = len(targets)
    kind = torch.randint(4, (count,), generator=generator)
    random_joints = (torch.rand(count, targets.shape[1] // 3, generator=generator) < 0.5).float()
    random_joints[:, 0] = torch.maximum(random_joints[:, 0], (random_joints.sum(1) == 0).float())
    masks = torch.ones_like(targets)
    masks[kind == 1] = presets[0]
    masks[kind == 2] = presets[1]
    masks[kind == 3] = random_joints[kind == 3].repeat_interleave(3, dim=1)
    return masks


def train_pose_mapping(args: argparse.Namespace) -> None:
    from engines.core import distributed
    from engines.core.mapping import MappingConfig, MappingNetwork
    from engines.core.trainer import train_mapping
    from engines.models.pose.data import load_poses
    from engines.models.pose.model import MAPPING_ASSET
    from engines.models.pose.skeleton import load_skeleton
    from engines.models.registry import load_model

    device, ranks = start_processes(args.device)
    forward = load_model("pose32", device)
    targets = load_poses(data_path("cmu_mocap") / "train", load_skeleton(), every=args.every)
    config = train_config_from_args(args)
    torch.manual_seed(args.seed)
    mapping = MappingNetwork(MappingConfig(z_dim=args.z_dim, x_dim=forward.input_dim, hidden=args.hidden))
    sampler = random_joint_masks if args.masks else None
    started = time.time()
    for stats in train_mapping(
        forward,
        targets,
        mapping,
        config,
        weight_sampler=sampler,
        checkpoint_dir=args.checkpoint_dir,
        resume=args.resume,
    ):
        if ranks.is_main:
            print(
                f"round {stats.round}: trajectory loss {stats.trajectory_loss_start:.4f} -> "
                f"{stats.trajectory_loss_end:.4f}, update {stats.update_loss:.4f}, {stats.seconds:.1f}s"
            )
    distributed.shutdown()
    if not ranks.is_main:
        return
    path = Path(args.out) if args.out else ASSETS_DIR / f"{MAPPING_ASSET}.safetensors"
    meta = {
        "kind": "pose32-mapping",
        "mapping": mapping.config.to_dict(),
        "train": config.to_dict(),
        "masks": args.masks,
        "seconds": round(time.time() - started),
    }
    save_tensors(path, mapping.state_dict(), meta)
    if not args.out:
        register_asset(
            MAPPING_ASSET,
            path,
            data=f"../shared/data/cmu_mocap/train, every {args.every}th frame",
            licence=CMU_LICENCE,
            command=command_line(),
        )
    print(f"saved {path}")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``pose-prior`` and ``pose-mapping`` to the training CLI."""
    prior = commands.add_parser("pose-prior", help="train the pose32 VAE on cmu_mocap/train")
    prior.add_argument("--every", type=int, default=4, help="keep every N-th frame (120 fps clips)")
    prior.add_argument("--epochs", type=int, default=40)
    prior.add_argument("--lr", type=float, default=1e-3)
    prior.add_argument("--kl-weight", type=float, default=5e-3)
    prior.add_argument("--latent-dim", type=int, default=32)
    prior.add_argument("--seed", type=int, default=0)
    add_device_argument(prior)
    prior.set_defaults(run=train_prior)

    mapping = commands.add_parser("pose-mapping", help="train Θ (Z 128 -> X 32) for pose32 with Algorithm 1")
    mapping.add_argument("--every", type=int, default=16)
    add_algorithm1_arguments(
        mapping,
        rounds=30,
        trajectories=256,
        steps=200,
        z_lr=0.1,
        mapping_lr=5e-3,
        weight_decay=0.1,
        updates=100,
        batch_size=256,
        buffer_rounds=5,
    )
    mapping.add_argument("--z-dim", type=int, default=128)
    mapping.add_argument("--hidden", type=int, default=512)
    mapping.add_argument("--masks", action="store_true", help="train on random observed-joint masks too")
    mapping.add_argument("--checkpoint-dir", type=Path, default=None)
    mapping.add_argument("--resume", action="store_true")
    add_run_arguments(mapping)
    mapping.set_defaults(run=train_pose_mapping)
