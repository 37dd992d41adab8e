"""``python -m engines.train encoder``: the feed-forward encoder baseline for faces64 on CelebA 1-8000.

The exact command of the shipped ``assets/faces64_encoder.safetensors`` is in assets/manifest.json.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from tqdm import tqdm

from engines.core.device import add_device_argument, resolve_device
from engines.io.checkpoint import ASSETS_DIR, register_asset
from engines.train.common import command_line
from engines.train.faces import CELEBA_LICENCE

logger = logging.getLogger(__name__)


def train_face_encoder(args: argparse.Namespace) -> None:
    """Train E with the generator frozen; write ``--out`` or ``assets/faces64_encoder`` + manifest entry."""
    import torch

    from engines.core.losses import get_loss, resolve_loss_name
    from engines.io.data import cached_image_set, data_path
    from engines.models.faces.encoder import (
        ASSET,
        EncoderConfig,
        EncoderTrainConfig,
        FaceLatentEncoder,
        save_encoder,
        train_encoder,
    )
    from engines.models.faces.model import CELEBA_TRAIN
    from engines.models.registry import load_model

    device = resolve_device(args.device)
    generator = load_model(args.model, device)
    size = generator.output_shape[-1]
    images = cached_image_set(data_path("celeba"), size, start=CELEBA_TRAIN.start, limit=CELEBA_TRAIN.stop)
    images = images[: args.limit] if args.limit else images
    loss = resolve_loss_name(args.loss)
    config = EncoderTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, loss=loss, seed=args.seed)
    torch.manual_seed(args.seed)
    encoder = FaceLatentEncoder(EncoderConfig(latent_dim=generator.input_dim, image_size=size))
    started = time.time()
    records = train_encoder(generator, images, encoder, config, get_loss(loss))
    for record in tqdm(records, total=config.epochs, desc=f"{args.model} encoder", unit="epoch"):
        logger.info("epoch %d: loss %.5f (%.0f s)", record["epoch"], record["loss"], time.time() - started)
    path = Path(args.out) if args.out else ASSETS_DIR / f"{ASSET}.safetensors"
    extra = {"model": args.model, "train": config.to_dict(), "seconds": round(time.time() - started)}
    save_encoder(path, encoder.cpu(), extra)
    if not args.out:
        register_asset(
            ASSET,
            path,
            data="../shared/data/celeba files 000001-008000 (center-crop, 64x64)",
            licence=CELEBA_LICENCE,
            command=command_line(),
        )
    print(f"saved {path}")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``encoder`` (faces64's feed-forward baseline) to the training CLI."""
    encoder = commands.add_parser("encoder", help="train a feed-forward encoder E with G(E(y)) ≈ y on CelebA 1-8000")
    encoder.add_argument("--model", default="faces64", choices=["faces64"])
    encoder.add_argument("--epochs", type=int, default=4)
    encoder.add_argument("--batch-size", type=int, default=64)
    encoder.add_argument("--lr", type=float, default=1e-3)
    encoder.add_argument("--loss", default="mse+lpips", help="the image objective (mse+lpips falls back to mse)")
    encoder.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    encoder.add_argument("--seed", type=int, default=0)
    encoder.add_argument("--out", type=Path, default=None, help="write here instead of assets/ (+ manifest)")
    add_device_argument(encoder)
    encoder.set_defaults(run=train_face_encoder)
