"""``python -m engines.train mnist-classifier|mnist-defense``: the MNIST classifiers and their defense Θ.

Both train on the MNIST training split of ``../shared/data/mnist.npz`` only; the exact command that
produced each shipped asset is recorded in assets/manifest.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch

from engines.io.checkpoint import ASSETS_DIR, register_asset
from engines.train.common import add_algorithm1_arguments, command_line

logger = logging.getLogger(__name__)

MNIST_LICENCE = "MNIST (LeCun, Cortes, Burges), usually cited CC BY-SA 3.0"
MNIST_TRAIN = "../shared/data/mnist.npz x_train/y_train (training split only)"


def load_training_split():
    """MNIST's training images ``60000 x 1 x 28 x 28`` in [0, 1] and labels (sorted by label in the file)."""
    from engines.io.data import data_path
    from engines.models.mnist.model import training_images

    with np.load(data_path("mnist.npz")) as data:
        return training_images(data["x_train"]), torch.as_tensor(data["y_train"]).long()


def train_mnist_classifier(args: argparse.Namespace) -> None:
    from engines.models.mnist.model import ASSET_NAMES, MnistNetConfig, load_classifier_file, save_classifier
    from engines.models.mnist.training import ClassifierTrainConfig, train_classifier

    images, labels = load_training_split()
    config = ClassifierTrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        limit=args.limit,
        adversarial_epsilon=args.epsilon,
        adversarial_steps=args.pgd_steps,
        adversarial_step_size=args.pgd_step_size,
        views=args.views,
        augment_noise=args.noise,
        augment_shift=args.shift,
        augment_rotation=args.rotation,
        lr=args.lr,
        contrastive_weight=args.contrastive_weight,
        seed=args.seed,
    )
    model_config = MnistNetConfig(channels=tuple(args.channels), features=args.features, projection=args.projection)
    init, extra_meta = None, {}
    if args.init is not None:
        start = load_classifier_file(args.init)
        model_config, init, extra_meta = start.config, start.state_dict(), {"init": str(args.init)}
    path = args.out or ASSETS_DIR / f"{ASSET_NAMES[args.name]}.safetensors"
    for record in train_classifier(images, labels, model_config, config, init=init):
        extra = {"train": config.to_dict(), "epoch": record["epoch"], "seconds": round(record["seconds"]), **extra_meta}
        save_classifier(path, record["net"], extra)
        print(
            f"epoch {record['epoch']}: loss {record['loss']:.4f}, train accuracy {record['accuracy']:.4f}", flush=True
        )
    if args.out is not None:
        print(f"saved {path}")
        return
    register_asset(ASSET_NAMES[args.name], path, data=MNIST_TRAIN, licence=MNIST_LICENCE, command=command_line())
    print(f"saved {path}")


def build_negative_bank(args: argparse.Namespace) -> None:
    """Embed one augmented view of ``--images`` random clean training images: the defense's negatives."""
    from engines.core.contrastive import embed_bank
    from engines.io.checkpoint import load_tensors, resolve_asset, save_tensors
    from engines.models.mnist.model import ASSET_NAMES, load_classifier, training_augment

    net = load_classifier(args.model).eval().requires_grad_(False)
    augment = training_augment(load_tensors(resolve_asset(ASSET_NAMES[args.model]))[1])
    images, _ = load_training_split()
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(args.seed))[: args.images]
    bank = embed_bank(net.embed, images[pick], augment_config=augment, seed=args.seed)
    path = ASSETS_DIR / f"{ASSET_NAMES[args.model]}_bank.safetensors"
    save_tensors(path, {"bank": bank}, {"images": args.images, "seed": args.seed, "views": 1})
    data = f"{MNIST_TRAIN}: {args.images} random clean images, one augmented view each"
    register_asset(path.stem, path, data=data, licence=MNIST_LICENCE, command=command_line())
    print(f"saved {path}: {tuple(bank.shape)}")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``mnist-classifier``, ``mnist-bank`` and ``mnist-defense`` to the training CLI."""
    parser = commands.add_parser("mnist-classifier", help="train an MNIST classifier with a contrastive head")
    parser.add_argument("--name", choices=["mnist-classifier", "mnist-classifier-robust"], default="mnist-classifier")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--limit", type=int, default=60000, help="random training images per epoch")
    parser.add_argument("--channels", type=int, nargs=2, default=[32, 64])
    parser.add_argument("--features", type=int, default=128, help="backbone output width")
    parser.add_argument("--projection", type=int, default=64, help="contrastive head output width")
    parser.add_argument("--views", type=int, default=2, help="augmented views per image in NT-Xent")
    parser.add_argument("--noise", type=float, default=0.0, help="Gaussian noise std of the views")
    parser.add_argument("--shift", type=float, default=0.1, help="largest shift of the views (fraction of the image)")
    parser.add_argument("--rotation", type=float, default=0.2, help="largest rotation of the views (radians)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--contrastive-weight", type=float, default=1.0, help="weight of the head's NT-Xent")
    parser.add_argument("--init", type=Path, default=None, help="continue from this classifier file")
    parser.add_argument("--out", type=Path, default=None, help="write the classifier here instead of assets/")
    parser.add_argument("--epsilon", type=float, default=0.3, help="PGD-L∞ radius of adversarial training")
    parser.add_argument("--pgd-steps", type=int, default=0, help="PGD steps per batch (0 = clean training)")
    parser.add_argument("--pgd-step-size", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=train_mnist_classifier)
    parser = commands.add_parser("mnist-bank", help="embed the defense's fixed negatives (clean training images)")
    parser.add_argument("--model", choices=["mnist-classifier", "mnist-classifier-robust"], default="mnist-classifier")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=build_negative_bank)
    add_defense_command(commands)


def attacked_training_images(net, images, labels, *, model: str, count: int, seed: int):
    """``count`` random training images attacked by PGD, half L∞ and half L2 (``count x 784``)."""
    from engines.core.attacks import pgd
    from engines.models.mnist.model import attack_budget

    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:count]
    half = count // 2
    parts = [
        pgd(net, images[pick[:half]], labels[pick[:half]], attack_budget(model, "pgd-linf"), seed=seed),
        pgd(net, images[pick[half:]], labels[pick[half:]], attack_budget(model, "pgd-l2"), seed=seed + 1),
    ]
    return torch.cat(parts).reshape(count, -1), labels[pick]


def identity_init(mapping, scale: float) -> None:
    """Set a 3-layer LeakyReLU Θ (hidden = 2 × dim) to exactly ``Θ(z) = scale · z``.

    Layer 1 splits z into (z, -z), layer 2 passes both on, layer 3 recombines them; the LeakyReLU
    slopes cancel, so Algorithm 1 starts from X-space's own landscape (with step ``scale · z_lr``).
    """
    first, second, third = (module for module in mapping.net if isinstance(module, torch.nn.Linear))
    dim, slope = first.in_features, mapping.config.negative_slope
    if first.out_features != 2 * dim:
        raise ValueError(f"identity init needs hidden = 2 x {dim}, got {first.out_features}")
    eye = torch.eye(dim)
    with torch.no_grad():
        first.weight.copy_(torch.cat([eye, -eye]))
        second.weight.copy_(torch.eye(2 * dim))
        third.weight.copy_(torch.cat([eye, -eye], dim=1) * scale / (1 + slope**2))
        for layer in (first, second, third):
            layer.bias.zero_()


def train_mnist_defense(args: argparse.Namespace) -> None:
    from engines.core.defense import DefenseConfig, ReversalForward, reversal_loss
    from engines.core.mapping import MappingConfig, MappingNetwork
    from engines.core.trainer import train_mapping
    from engines.io.checkpoint import save_module
    from engines.models.mnist.model import ASSET_NAMES, defense_contrastive, load_classifier, load_classifier_file
    from engines.train.common import train_config_from_args

    net = load_classifier(args.model) if args.classifier is None else load_classifier_file(args.classifier)
    net = net.eval().requires_grad_(False)
    images, labels = load_training_split()
    targets, _ = attacked_training_images(net, images, labels, model=args.model, count=args.images, seed=args.seed)
    defense = DefenseConfig(weight=args.weight, x_lr=args.x_lr, z_lr=args.z_lr, z_init_scale=args.z_init_scale)
    contrastive = defense_contrastive(args.model, net, seed=args.seed)
    torch.manual_seed(args.seed)
    mapping = MappingNetwork(MappingConfig(z_dim=784, x_dim=784, hidden=args.hidden, layers=3))
    if args.init == "identity":
        identity_init(mapping, args.output_scale)
    else:
        with torch.no_grad():
            mapping.net[-1].weight.mul_(args.output_scale)
            mapping.net[-1].bias.zero_()
    config = dataclasses.replace(train_config_from_args(args), random_starts=True, start_scale=args.z_init_scale)
    loss_fn = reversal_loss(contrastive, defense.weight)
    path = args.out or ASSETS_DIR / f"{ASSET_NAMES[args.model]}_mapping.safetensors"
    meta = {"mapping": mapping.config.to_dict(), "defense": defense.to_dict(), "train": config.to_dict()}
    run_dir = args.run_dir / f"{ASSET_NAMES[args.model]}_mapping"
    rounds = train_mapping(
        ReversalForward(784), targets, mapping, config, loss_fn=loss_fn, checkpoint_dir=run_dir, resume=args.resume
    )
    for stats in rounds:
        print(
            f"round {stats.round}: trajectory loss {stats.trajectory_loss_start:.4f} -> "
            f"{stats.trajectory_loss_end:.4f}, update loss {stats.update_loss:.4f} ({stats.seconds:.0f}s)",
            flush=True,
        )
        save_module(path, mapping.eval(), {**meta, "rounds_done": stats.round})  # usable after every round
    if args.out is None:
        data = f"{MNIST_TRAIN}: {args.images} random images attacked by PGD (half L-inf, half L2)"
        register_asset(path.stem, path, data=data, licence=MNIST_LICENCE, command=command_line())
    print(f"saved {path}")


def add_defense_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("mnist-defense", help="train the defense Θ (Algorithm 1, contrastive reversal loss)")
    parser.add_argument("--model", choices=["mnist-classifier", "mnist-classifier-robust"], default="mnist-classifier")
    parser.add_argument("--images", type=int, default=2000, help="attacked training images (targets)")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--init", choices=["random", "identity"], default="random", help="Θ's starting point")
    parser.add_argument("--output-scale", type=float, default=0.1, help="scale of Θ's initial last layer")
    parser.add_argument("--weight", type=float, default=0.03, help="λ of λ‖r‖²")
    parser.add_argument("--x-lr", type=float, default=0.05, help="X-space (baseline) Adam rate saved with Θ")
    parser.add_argument("--z-init-scale", type=float, default=0.1)
    add_algorithm1_arguments(
        parser, rounds=10, trajectories=256, steps=5, z_lr=0.5, mapping_lr=1e-3, weight_decay=0.0, updates=50,
        batch_size=70, buffer_rounds=5,
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="write Θ here instead of assets/")
    parser.add_argument("--classifier", type=Path, default=None, help="a classifier file (default: the shipped one)")
    parser.add_argument("--run-dir", type=Path, default=Path("runs"), help="resumable state goes to RUN_DIR/NAME/")
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/NAME/state.safetensors")
    parser.set_defaults(run=train_mnist_defense)
