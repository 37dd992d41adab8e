"""``python -m engines.train generator|mapping``: the faces64 generator and its Θ on CelebA 1-8000.

The exact command that produced each shipped asset is recorded in assets/manifest.json.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch
from tqdm import tqdm

from engines.core.device import add_device_argument, resolve_device
from engines.io.checkpoint import ASSETS_DIR, register_asset, save_tensors
from engines.train.common import (
    add_algorithm1_arguments,
    add_run_arguments,
    command_line,
    start_processes,
    train_config_from_args,
)

logger = logging.getLogger(__name__)

CELEBA_LICENCE = "CelebA: non-commercial research use only"


def train_generator(args: argparse.Namespace) -> None:
    from engines.io.data import cached_image_set, data_path
    from engines.models.faces.model import CELEBA_TRAIN, FaceNetConfig, VAETrainConfig, save_generator, train_vae

    images = cached_image_set(data_path("celeba"), 64, start=CELEBA_TRAIN.start, limit=CELEBA_TRAIN.stop)
    if args.kind == "gan":
        from engines.models.faces.gan import GANTrainConfig, train_gan

        model_config = FaceNetConfig(latent_dim=args.latent_dim, norm="pixel", channels=tuple(args.channels))
        train_config = GANTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
        records = train_gan(images, model_config, train_config, device=resolve_device(args.device))
    else:
        model_config = FaceNetConfig(latent_dim=args.latent_dim, channels=tuple(args.channels))
        train_config = VAETrainConfig(
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, kl_weight=args.kl_weight, seed=args.seed
        )
        records = train_vae(images, model_config, train_config, device=resolve_device(args.device))
    started = time.time()
    path = ASSETS_DIR / "faces64_generator.safetensors"
    progress = tqdm(records, total=args.epochs, desc=f"faces64 {args.kind}", unit="epoch")
    for record in progress:
        progress.set_postfix({k: f"{v:.3f}" for k, v in record.items() if isinstance(v, float)})
        decoder = record["decoder"].eval()
        extra = {
            "generator_kind": args.kind,
            "train": train_config.to_dict(),
            "epoch": record["epoch"],
            "seconds": round(time.time() - started),
        }
        save_generator(Path(args.run_dir) / "faces64_generator.safetensors", decoder, model_config, extra)
        save_sample_grid(decoder, model_config.latent_dim, Path(args.run_dir) / "faces64_samples.png")
        decoder.train()
    decoder.eval()
    save_generator(path, decoder, model_config, extra)
    register_asset(
        "faces64_generator",
        path,
        data="../shared/data/celeba files 000001-008000 (center-crop, 64x64)",
        licence=CELEBA_LICENCE,
        command=command_line(),
    )
    save_sample_grid(decoder, model_config.latent_dim, ASSETS_DIR / "faces64_samples.png")
    print(f"saved {path} and {ASSETS_DIR / 'faces64_samples.png'}")


def save_sample_grid(decoder, latent_dim: int, path: Path) -> None:
    """An 8×8 grid of samples from N(0, I), seed 0."""
    from engines.io.images import tensor_to_image

    with torch.no_grad():
        latents = torch.randn(64, latent_dim, generator=torch.Generator().manual_seed(0))
        samples = decoder(latents.to(next(decoder.parameters()).device)).cpu()
    grid = samples.view(8, 8, 3, 64, 64).permute(2, 0, 3, 1, 4).reshape(3, 512, 512)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensor_to_image(grid).save(path)


def train_face_mapping(args: argparse.Namespace) -> None:
    """Algorithm 1 for a registered image model; one process, or one rank of ``torchrun`` (see README)."""
    from engines.core import distributed
    from engines.core.trainer import train_mapping
    from engines.io.data import cached_image_set, data_path
    from engines.models.faces.model import CELEBA_TRAIN
    from engines.models.registry import load_model

    device, ranks = start_processes(args.device)
    forward = load_model(args.model, device)
    size = forward.output_shape[-1]  # CelebA at the model's resolution (64 for faces64)
    for main_turn in (True, False):  # rank 0 first, so that only it writes the preprocessed-image cache
        if ranks.is_main == main_turn:
            images = cached_image_set(data_path("celeba"), size, start=CELEBA_TRAIN.start, limit=CELEBA_TRAIN.stop)
        distributed.barrier()
    config = train_config_from_args(args)
    mapping = new_mapping(args, forward.input_dim)
    validation = None
    if args.validate and ranks.is_main:
        validation = cached_image_set(
            data_path("celeba"), size, start=CELEBA_TRAIN.stop - args.validate, limit=args.validate
        )
    run_dir = Path(args.run_dir) / f"{args.name}"
    rounds = train_mapping(forward, images, mapping, config, checkpoint_dir=run_dir, resume=args.resume)
    progress = tqdm(rounds, total=config.rounds, desc=f"{args.name} Θ", unit="round", disable=not ranks.is_main)
    for stats in progress:
        progress.set_postfix(
            start=f"{stats.trajectory_loss_start:.4f}",
            end=f"{stats.trajectory_loss_end:.4f}",
            update=f"{stats.update_loss:.4f}",
        )
        if validation is not None and (stats.round % args.validate_every == 0 or stats.round == config.rounds):
            progress.write(f"round {stats.round}: " + validate_mapping(forward, mapping, validation, config))
    if ranks.is_main:
        save_face_mapping(args, mapping, config, world_size=ranks.world_size)
    distributed.shutdown()


def new_mapping(args: argparse.Namespace, x_dim: int):
    """A seeded random Θ, or the one in ``--init`` (a file written by this command)."""
    from engines.core.mapping import MappingConfig, MappingNetwork
    from engines.io.checkpoint import load_module_state, load_tensors

    torch.manual_seed(args.seed)
    mapping = MappingNetwork(MappingConfig(z_dim=args.z_dim or x_dim, x_dim=x_dim, hidden=args.hidden))
    if args.init:
        tensors, _ = load_tensors(Path(args.init))
        load_module_state(mapping, tensors, args.init)
        logger.info("Θ starts from %s", args.init)
    return mapping


def save_face_mapping(args: argparse.Namespace, mapping, config, *, world_size: int) -> None:
    """The final Θ to ``--out``, or to ``assets/NAME`` with its manifest entry (CelebA test split untouched)."""
    path = Path(args.out) if args.out else ASSETS_DIR / f"{args.name}.safetensors"
    meta = {
        "kind": "mapping",
        "model": args.model,
        "mapping": mapping.config.to_dict(),
        "train": config.to_dict(),
        "init": args.init,
    }
    if world_size > 1:
        meta["world_size"] = world_size
    save_tensors(path, {k: v for k, v in mapping.state_dict().items()}, meta)
    if not args.out:
        register_asset(
            args.name,
            path,
            data="../shared/data/celeba files 000001-008000 (center-crop, 64x64)",
            licence=CELEBA_LICENCE,
            command=command_line(),
        )
    print(f"saved {path}")


def validate_mapping(forward, mapping, targets, config) -> str:
    """Mean loss of Z (lr config.z_lr) at steps 0 / 2 / 20 / 100 / 200 on ``targets`` — a training-time signal."""
    from engines.core.evaluation import run_space

    was_training = mapping.training
    mapping.eval().requires_grad_(False)
    try:
        run = run_space(forward, targets, mapping=mapping, lr=config.z_lr, steps=200, loss=config.loss)
    finally:
        mapping.train(was_training).requires_grad_(True)
    return " ".join(f"z[{step}]={run.losses[step]:.5f}" for step in (0, 2, 20, 100, 200))


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``generator`` and ``mapping`` (faces64) to the training CLI."""
    generator = commands.add_parser("generator", help="train the faces64 generator (VAE) on CelebA 1-8000")
    generator.add_argument("--kind", choices=["gan", "vae"], default="gan")
    generator.add_argument("--channels", type=int, nargs=5, default=[192, 96, 48, 24, 12], help="4x4 ... 64x64 widths")
    generator.add_argument("--epochs", type=int, default=20)
    generator.add_argument("--batch-size", type=int, default=64)
    generator.add_argument("--lr", type=float, default=2e-4, help="GAN default; the VAE used 2e-3")
    generator.add_argument("--run-dir", default="runs", help="per-epoch snapshots go here")
    generator.add_argument("--kl-weight", type=float, default=0.04)
    generator.add_argument("--latent-dim", type=int, default=128)
    generator.add_argument("--seed", type=int, default=0)
    add_device_argument(generator)
    generator.set_defaults(run=train_generator)

    mapping = commands.add_parser("mapping", help="train Θ for a registered model with Algorithm 1")
    mapping.add_argument("--model", default="faces64")
    mapping.add_argument("--name", default="faces64_mapping", help="asset name to write in assets/")
    add_algorithm1_arguments(
        mapping,
        rounds=20,
        trajectories=256,
        steps=20,
        z_lr=0.1,
        mapping_lr=1e-4,
        weight_decay=0.1,
        updates=100,
        batch_size=256,
        buffer_rounds=10,
    )
    mapping.add_argument("--hidden", type=int, default=1024)
    mapping.add_argument("--z-dim", type=int, default=None, help="default: the model's input dimension")
    mapping.add_argument("--loss", default="mse")
    mapping.add_argument(
        "--random-starts", action="store_true", help="trajectories start from random z0 (keeps hypotheses apart)"
    )
    mapping.add_argument("--start-scale", type=float, default=1.0, help="z0 = SCALE * N(0, I) with --random-starts")
    mapping.add_argument(
        "--zero-start-fraction", type=float, default=0.0, help="with --random-starts: this share starts at z0 = 0"
    )
    mapping.add_argument("--validate", type=int, default=0, help="report Z losses on the last K training faces")
    mapping.add_argument("--validate-every", type=int, default=5)
    mapping.add_argument("--run-dir", default="runs", help="resumable checkpoints go to RUN_DIR/NAME/")
    mapping.add_argument("--resume", action="store_true")
    mapping.add_argument("--init", default=None, help="start from this Θ checkpoint (.safetensors) instead of random")
    add_run_arguments(mapping)
    mapping.set_defaults(run=train_face_mapping)
