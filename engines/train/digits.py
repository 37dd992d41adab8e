"""``python -m engines.train digits-generator|digits-classifier|digits-mapping``: the ``digits`` model on MNIST train.

The exact command that produced each shipped asset is recorded in assets/manifest.json.
MNIST test is only read to report the classifier's accuracy.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from tqdm import tqdm

from engines.io.checkpoint import ASSETS_DIR, register_asset
from engines.train.common import (
    add_algorithm1_arguments,
    add_run_arguments,
    command_line,
    start_processes,
    train_config_from_args,
)

MNIST_LICENCE = "MNIST (LeCun, Cortes, Burges), usually cited CC BY-SA 3.0"
MNIST_TRAIN = "../shared/data/mnist.npz x_train/y_train (60,000 digits)"


def mnist(split: str = "train"):
    from engines.io.data import data_path
    from engines.models.digits.training import load_mnist

    return load_mnist(data_path("mnist.npz"), split)


def train_generator(args: argparse.Namespace) -> None:
    from engines.models.digits.model import DigitsConfig, save_digits_net
    from engines.models.digits.training import DigitsGANConfig, train_digits_gan

    images, labels = mnist("train")
    model_config = DigitsConfig(
        latent_dim=args.latent_dim, embedding_dim=args.embedding_dim, channels=tuple(args.channels)
    )
    initial = None
    if args.init:
        from engines.io.checkpoint import load_tensors

        initial, meta = load_tensors(Path(args.init))
        model_config = DigitsConfig.from_dict(meta["model"])
    train_config = DigitsGANConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        discriminator_width=args.discriminator_width,
        seed=args.seed,
    )
    started, path = time.time(), ASSETS_DIR / "digits_generator.safetensors"
    records = train_digits_gan(images, labels, model_config, train_config, initial=initial)
    progress = tqdm(records, total=args.epochs, unit="epoch")
    for record in progress:
        progress.set_postfix({k: f"{v:.3f}" for k, v in record.items() if isinstance(v, float)})
        net = record["net"].eval()
        extra = {"train": train_config.to_dict(), "epoch": record["epoch"], "seconds": round(time.time() - started)}
        extra["init"] = args.init
        save_digits_net(Path(args.run_dir) / "digits_generator.safetensors", net, model_config, extra)
        save_class_grid(net, model_config, Path(args.run_dir) / "digits_samples.png")
        net.train()
    net.eval()
    save_digits_net(path, net, model_config, extra)
    register_asset("digits_generator", path, data=MNIST_TRAIN, licence=MNIST_LICENCE, command=command_line())
    save_class_grid(net, model_config, ASSETS_DIR / "digits_samples.png")
    print(f"saved {path} and {ASSETS_DIR / 'digits_samples.png'}")


def save_class_grid(net, config, path: Path, per_class: int = 10) -> None:
    """One row per class (0–9 top to bottom), ``per_class`` samples from N(0, I), seed 0."""
    from engines.io.images import tensor_to_image

    with torch.no_grad():
        labels = torch.arange(config.num_classes).repeat_interleave(per_class)
        z = torch.randn(len(labels), config.latent_dim, generator=torch.Generator().manual_seed(0))
        samples = net(z, net.embedding(labels))
    grid = samples.view(config.num_classes, per_class, 28, 28).permute(0, 2, 1, 3).reshape(1, -1, per_class * 28)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensor_to_image(grid.expand(3, -1, -1)).save(path)


def train_classifier(args: argparse.Namespace) -> None:
    from engines.models.digits.model import save_digits_classifier
    from engines.models.digits.training import classifier_accuracy, train_digits_classifier

    images, labels = mnist("train")
    records = train_digits_classifier(images, labels, epochs=args.epochs, lr=args.lr, seed=args.seed)
    for record in tqdm(records, total=args.epochs, unit="epoch"):
        tqdm.write(f"epoch {record['epoch']}: loss {record['loss']:.4f}")
    test_images, test_labels = mnist("test")
    accuracy = classifier_accuracy(record["classifier"], test_images, test_labels)
    path = ASSETS_DIR / "digits_classifier.safetensors"
    settings = {"epochs": args.epochs, "lr": args.lr, "seed": args.seed}
    save_digits_classifier(path, record["classifier"], {"train": settings, "mnist_test_accuracy": accuracy})
    register_asset(
        "digits_classifier",
        path,
        data=MNIST_TRAIN,
        licence=MNIST_LICENCE,
        command=command_line(),
        extra={"mnist_test_accuracy": accuracy},
    )
    print(f"saved {path}; MNIST test accuracy {accuracy:.4f}")


def train_digits_mapping(args: argparse.Namespace) -> None:
    """Algorithm 1 for ``digits`` (``forward(z)``: the mean class embedding) on MNIST train digits."""
    from engines.core.mapping import MappingConfig, MappingNetwork
    from engines.core.trainer import train_mapping
    from engines.io.checkpoint import save_tensors
    from engines.models.registry import load_model

    device, _ = start_processes(args.device)
    forward = load_model("digits", device)
    images, _ = mnist("train")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(args.seed))[: args.targets]
    targets = images[order].expand(-1, 3, -1, -1).contiguous()
    config = train_config_from_args(args)
    torch.manual_seed(args.seed)
    mapping = MappingNetwork(MappingConfig(z_dim=forward.input_dim, x_dim=forward.input_dim, hidden=args.hidden))
    rounds = train_mapping(forward, targets, mapping, config, checkpoint_dir=Path(args.run_dir) / "digits_mapping")
    for stats in tqdm(rounds, total=config.rounds, unit="round"):
        tqdm.write(f"round {stats.round}: {stats.trajectory_loss_start:.4f} -> {stats.trajectory_loss_end:.4f}")
    path = Path(args.out) if args.out else ASSETS_DIR / "digits_mapping.safetensors"
    meta = {"kind": "mapping", "model": "digits", "mapping": mapping.config.to_dict(), "train": config.to_dict()}
    save_tensors(path, dict(mapping.state_dict()), meta)
    if not args.out:
        data = f"{MNIST_TRAIN}: {args.targets} random digits (seed {args.seed})"
        register_asset("digits_mapping", path, data=data, licence=MNIST_LICENCE, command=command_line())
    print(f"saved {path}")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``digits-generator``, ``digits-classifier`` and ``digits-mapping`` to the training CLI."""
    generator = commands.add_parser("digits-generator", help="train the class-conditional digits GAN on MNIST train")
    generator.add_argument("--epochs", type=int, default=3)
    generator.add_argument("--batch-size", type=int, default=64)
    generator.add_argument("--lr", type=float, default=2e-4)
    generator.add_argument("--channels", type=int, nargs=3, default=[64, 32, 16], help="7x7, 14x14, 28x28 widths")
    generator.add_argument("--latent-dim", type=int, default=64)
    generator.add_argument("--embedding-dim", type=int, default=32)
    generator.add_argument("--discriminator-width", type=int, default=32)
    generator.add_argument("--seed", type=int, default=0)
    generator.add_argument("--run-dir", default="runs", help="per-epoch snapshots go here")
    generator.add_argument("--init", default=None, help="continue from this generator (.safetensors); fresh D")
    generator.set_defaults(run=train_generator)

    classifier = commands.add_parser("digits-classifier", help="train the digits classifier on MNIST train")
    classifier.add_argument("--epochs", type=int, default=3)
    classifier.add_argument("--lr", type=float, default=1e-3)
    classifier.add_argument("--seed", type=int, default=0)
    classifier.set_defaults(run=train_classifier)

    mapping = commands.add_parser("digits-mapping", help="train Θ for digits with Algorithm 1 (MNIST train)")
    mapping.add_argument("--targets", type=int, default=4096, help="random MNIST train digits used as targets")
    add_algorithm1_arguments(
        mapping,
        rounds=20,
        trajectories=128,
        steps=20,
        z_lr=0.1,
        mapping_lr=1e-3,
        weight_decay=0.1,
        updates=50,
        batch_size=128,
        buffer_rounds=10,
    )
    mapping.add_argument("--hidden", type=int, default=512)
    mapping.add_argument("--run-dir", default="runs")
    add_run_arguments(mapping)
    mapping.set_defaults(run=train_digits_mapping)
