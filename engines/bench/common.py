"""Arguments every X-vs-Z benchmark shares (their names and defaults are an interface: keep them)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engines.core.device import add_device_argument, resolve_device


def add_common_arguments(parser: argparse.ArgumentParser, *, n: int) -> None:
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--n", type=int, default=n)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "lbfgs"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--x-lr", type=float, default=None, help="X-space lr (default: the documented choice)")
    parser.add_argument("--z-lr", type=float, default=None, help="Z-space lr (default: 0.1 for Adam)")
    parser.add_argument("--json", type=Path, default=None)
    add_device_argument(parser)


RANDOM = "random"  # --mapping random: a seeded untrained Θ (the paper's control)


def add_mapping_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mapping", type=Path, default=None,
        help="a Θ file (.safetensors + .json) instead of the model's shipped Θ, or 'random' (an untrained Θ)",
    )  # fmt: skip


def mapping_of(args: argparse.Namespace, device):
    """Θ for the benchmark: ``--mapping FILE`` when given, ``--mapping random`` an untrained seeded Θ, else the
    model's shipped Θ (eval, frozen, on ``device``). A model that ships none gets the random Θ, and says so."""
    from engines.core.mapping import load_mapping_file, random_mapping
    from engines.models.registry import load_mapping, load_model

    chosen = getattr(args, "mapping", None)
    if chosen is not None and str(chosen) == RANDOM:
        return random_mapping(load_model(args.model).input_dim, seed=getattr(args, "seed", 0)).to(device)
    if chosen is None:
        try:
            return load_mapping(args.model, device)
        except (FileNotFoundError, ValueError) as error:
            print(f"⚠ no trained Θ for {args.model} ({error}): Z-space uses a random, untrained Θ")
            return random_mapping(load_model(args.model).input_dim, seed=getattr(args, "seed", 0)).to(device)
    return load_mapping_file(args.mapping).eval().requires_grad_(False).to(device)


def image_bench_inputs(args: argparse.Namespace) -> tuple:
    """What the image benchmarks share, seeded with ``--seed``: (device, F, Θ, targets), the targets being
    the first ``--n`` images of ``--data`` as ``n x C x H x W`` on the device. Exits when there are none."""
    import torch

    from engines.io.images import list_images
    from engines.models.registry import load_model

    torch.manual_seed(args.seed)
    device = device_of(args)
    forward, mapping = load_model(args.model, device), mapping_of(args, device)
    paths = list_images(args.data)[: args.n]
    if not paths:
        raise SystemExit(f"no images in {args.data}")
    return device, forward, mapping, torch.stack([forward.prepare_target(path)[0] for path in paths]).to(device)


def learning_rates(args: argparse.Namespace) -> tuple[float, float]:
    """X- and Z-space learning rates: ``--x-lr`` / ``--z-lr``, else the model's saved defaults."""
    from engines.core.evaluation import inversion_defaults

    defaults = inversion_defaults(args.model, args.optimizer)
    x_lr = args.x_lr if args.x_lr is not None else defaults.x_lr
    return x_lr, args.z_lr if args.z_lr is not None else defaults.z_lr


def handoff_settings(args: argparse.Namespace, *, masked: bool = False) -> tuple[int, float]:
    """Z→X's hand-off step and X lr after it: ``--handoff`` / ``--handoff-lr``, else the model's saved defaults
    (for a ``masked`` target: its masked rule, see :meth:`InversionDefaults.handoff_for`)."""
    from engines.core.evaluation import inversion_defaults

    defaults = inversion_defaults(args.model, args.optimizer)
    default = defaults.handoff_for(masked=masked, steps=args.steps)
    handoff = args.handoff if getattr(args, "handoff", None) is not None else default
    handoff_lr = getattr(args, "handoff_lr", None)
    return handoff, handoff_lr if handoff_lr is not None else defaults.handoff_lr


def add_handoff_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--handoff", type=int, default=None, help="Z→X: Z-space steps before X (default: the model's)")
    parser.add_argument(
        "--handoff-lr", type=float, default=None, help="Z→X: X lr after the hand-off (default: the model's)"
    )


def device_of(args: argparse.Namespace):
    """The resolved ``--device`` of a benchmark's arguments (auto when absent)."""
    return resolve_device(getattr(args, "device", "auto"))


def device_figures(device) -> dict:
    """What the JSON records about the device: its name, and on CUDA the peak memory in MiB."""
    import torch

    figures = {"device": str(device)}
    if device.type == "cuda":
        figures["peak_memory_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return figures


def add_prior_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prior-weight", type=float, default=None,
        help="masked targets: pull X, and Z→X after the hand-off, towards F's input prior (default: the model's)",
    )  # fmt: skip
    parser.add_argument("--prior-kind", default=None, choices=["gauss", "shell"], help="default: the model's")


def prior_settings(args: argparse.Namespace) -> tuple[float, str]:
    """The prior pull for masked targets (see :func:`engines.core.masked.prior_penalty`): ``--prior-weight`` /
    ``--prior-kind``, else the model's saved defaults for masked targets."""
    from engines.core.evaluation import inversion_defaults

    defaults = inversion_defaults(args.model, args.optimizer)
    weight = getattr(args, "prior_weight", None)
    kind = getattr(args, "prior_kind", None)
    return (defaults.masked_prior_weight if weight is None else weight), (kind or defaults.masked_prior_kind)
