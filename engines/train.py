"""Training CLI: ``python -m engines.train {generator,mapping,pose-prior,pose-mapping} ...`` (see ``--help``).

The exact command that produced each shipped asset is recorded in assets/manifest.json.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from engines.checkpoint import ASSETS_DIR, register_asset, save_tensors

logger = logging.getLogger(__name__)

CELEBA_LICENCE = "CelebA: non-commercial research use only"


def command_line() -> str:
    return "python -m engines.train " + shlex.join(sys.argv[1:])


def train_generator(args: argparse.Namespace) -> None:
    from engines.data import cached_image_set, data_path
    from engines.faces import CELEBA_TRAIN, FaceNetConfig, VAETrainConfig, save_generator, train_vae

    images = cached_image_set(data_path("celeba"), 64, start=CELEBA_TRAIN.start, limit=CELEBA_TRAIN.stop)
    if args.kind == "gan":
        from engines.gan import GANTrainConfig, train_gan

        model_config = FaceNetConfig(latent_dim=args.latent_dim, norm="pixel", channels=tuple(args.channels))
        train_config = GANTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
        records = train_gan(images, model_config, train_config)
    else:
        model_config = FaceNetConfig(latent_dim=args.latent_dim, channels=tuple(args.channels))
        train_config = VAETrainConfig(
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, kl_weight=args.kl_weight, seed=args.seed
        )
        records = train_vae(images, model_config, train_config)
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
    from engines.images import tensor_to_image

    with torch.no_grad():
        samples = decoder(torch.randn(64, latent_dim, generator=torch.Generator().manual_seed(0)))
    grid = samples.view(8, 8, 3, 64, 64).permute(2, 0, 3, 1, 4).reshape(3, 512, 512)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensor_to_image(grid).save(path)


def train_config_from_args(args: argparse.Namespace):
    """The Algorithm 1 settings of a ``mapping`` / ``pose-mapping`` command line."""
    from engines.trainer import TrainConfig

    return TrainConfig(
        rounds=args.rounds,
        trajectories=args.trajectories,
        steps=args.steps,
        z_lr=args.z_lr,
        mapping_lr=args.mapping_lr,
        weight_decay=args.weight_decay,
        updates_per_round=args.updates,
        batch_size=args.batch_size,
        buffer_rounds=args.buffer_rounds,
        online=args.online,
        loss=getattr(args, "loss", "mse"),
        seed=args.seed,
    )


def train_face_mapping(args: argparse.Namespace) -> None:
    from engines.data import cached_image_set, data_path
    from engines.faces import CELEBA_TEST, CELEBA_TRAIN
    from engines.mapping import MappingConfig, MappingNetwork
    from engines.models import load_model
    from engines.trainer import train_mapping

    forward = load_model(args.model)
    images = cached_image_set(data_path("celeba"), 64, start=CELEBA_TRAIN.start, limit=CELEBA_TRAIN.stop)
    config = train_config_from_args(args)
    torch.manual_seed(args.seed)
    mapping_config = MappingConfig(z_dim=args.z_dim or forward.input_dim, x_dim=forward.input_dim, hidden=args.hidden)
    mapping = MappingNetwork(mapping_config)
    if args.init:
        from engines.checkpoint import load_module_state, load_tensors

        tensors, _ = load_tensors(Path(args.init))
        load_module_state(mapping, tensors, args.init)
    run_dir = Path(args.run_dir) / f"{args.name}"
    validation = None
    if args.validate:
        validation = cached_image_set(
            data_path("celeba"), 64, start=CELEBA_TRAIN.stop - args.validate, limit=args.validate
        )
    rounds = train_mapping(forward, images, mapping, config, checkpoint_dir=run_dir, resume=args.resume)
    progress = tqdm(rounds, total=config.rounds, desc=f"{args.name} Θ", unit="round")
    for stats in progress:
        progress.set_postfix(
            start=f"{stats.trajectory_loss_start:.4f}",
            end=f"{stats.trajectory_loss_end:.4f}",
            update=f"{stats.update_loss:.4f}",
        )
        if validation is not None and (stats.round % args.validate_every == 0 or stats.round == config.rounds):
            progress.write(f"round {stats.round}: " + validate_mapping(forward, mapping, validation, config))
    del CELEBA_TEST  # the test split is never touched here
    path = ASSETS_DIR / f"{args.name}.safetensors"
    save_tensors(
        path,
        {k: v for k, v in mapping.state_dict().items()},
        {
            "kind": "mapping",
            "model": args.model,
            "mapping": mapping_config.to_dict(),
            "train": config.to_dict(),
            "init": args.init,
        },
    )
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
    from engines.evaluation import run_space

    was_training = mapping.training
    mapping.eval().requires_grad_(False)
    try:
        run = run_space(forward, targets, mapping=mapping, lr=config.z_lr, steps=200, loss=config.loss)
    finally:
        mapping.train(was_training).requires_grad_(True)
    return " ".join(f"z[{step}]={run.losses[step]:.5f}" for step in (0, 2, 20, 100, 200))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engines.train", description=__doc__)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    commands = parser.add_subparsers(dest="command", required=True)
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
    generator.set_defaults(run=train_generator)

    mapping = commands.add_parser("mapping", help="train Θ for a registered model with Algorithm 1")
    mapping.add_argument("--model", default="faces64")
    mapping.add_argument("--name", default="faces64_mapping", help="asset name to write in assets/")
    mapping.add_argument("--rounds", type=int, default=20)
    mapping.add_argument("--trajectories", type=int, default=256)
    mapping.add_argument("--steps", type=int, default=20)
    mapping.add_argument("--z-lr", type=float, default=0.1)
    mapping.add_argument("--mapping-lr", type=float, default=1e-4)
    mapping.add_argument("--weight-decay", type=float, default=0.1)
    mapping.add_argument("--updates", type=int, default=100, help="Θ updates per round")
    mapping.add_argument("--batch-size", type=int, default=256)
    mapping.add_argument("--buffer-rounds", type=int, default=10)
    mapping.add_argument("--hidden", type=int, default=1024)
    mapping.add_argument("--z-dim", type=int, default=None, help="default: the model's input dimension")
    mapping.add_argument("--loss", default="mse")
    mapping.add_argument("--online", action="store_true", help="ablation: update Θ after every z step")
    mapping.add_argument("--seed", type=int, default=0)
    mapping.add_argument("--validate", type=int, default=0, help="report Z losses on the last K training faces")
    mapping.add_argument("--validate-every", type=int, default=5)
    mapping.add_argument("--run-dir", default="runs", help="resumable checkpoints go to RUN_DIR/NAME/")
    mapping.add_argument("--resume", action="store_true")
    mapping.add_argument("--init", default=None, help="start from this Θ checkpoint (.safetensors) instead of random")
    mapping.set_defaults(run=train_face_mapping)

    try:
        from engines.pose.train import add_commands
    except ModuleNotFoundError as error:
        if error.name not in ("engines.pose", "engines.pose.train"):
            raise
    else:
        add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.run(args)


if __name__ == "__main__":
    main()
