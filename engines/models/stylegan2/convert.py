"""StyleGAN2 weights from the two common layouts into ours (and back), read without running code.

- rosinality/stylegan2-pytorch ``.pt``: ``{"g_ema": state_dict, "latent_avg": w_avg, ...}`` read with
  ``torch.load(weights_only=True)`` (``argparse.Namespace`` is the one extra class allowed, for the
  ``args`` entry its training script saves). Keys such as ``style.1.weight``, ``conv1.conv.weight``
  (``1 x O x I x 3 x 3``), ``convs.0.conv.modulation.weight``, ``convs.0.activate.bias``,
  ``to_rgbs.0.bias`` (``1 x 3 x 1 x 1``), ``noises.noise_0``.
- NVlabs stylegan2-ada-pytorch ``.pkl``: ``G_ema`` of the pickle through
  :func:`engines.io.safe_pickle.load_network_pickle` (never ``exec``s the source stored in it); its
  parameter names are ours.
- ours: ``NAME.safetensors`` + ``NAME.json`` (``{"kind": "stylegan2", "model": config}``), written by
  :func:`convert_file` (``python -m engines.models.stylegan2.convert SRC OUT.safetensors``).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import torch
from torch import Tensor

from engines.io.checkpoint import load_tensors, save_tensors
from engines.io.safe_pickle import PersistentObject, load_network_pickle, module_tensors
from engines.models.stylegan2.network import Generator, StyleGAN2Config

W_AVG_SAMPLES = 4096  # when a file has no w_avg: the mean of w over this many seeded z


def _layer_names(resolution: int) -> list[tuple[str, str]]:
    """(our prefix, rosinality prefix) of every synthesis layer, with the rosinality noise index order."""
    pairs = [("synthesis.b4.conv1", "conv1")]
    for index in range(int(math.log2(resolution)) - 2):
        block = f"synthesis.b{8 * 2**index}"
        pairs += [(f"{block}.conv0", f"convs.{2 * index}"), (f"{block}.conv1", f"convs.{2 * index + 1}")]
    return pairs


def rosinality_names(config: StyleGAN2Config) -> dict[str, str]:
    """Our tensor name -> the rosinality name (shapes differ by leading 1s, see :func:`from_rosinality`)."""
    names = {
        f"mapping.fc{i}.{p}": f"style.{i + 1}.{p}" for i in range(config.mapping_layers) for p in ("weight", "bias")
    }
    names["synthesis.b4.const"] = "input.input"
    for noise_index, (ours, theirs) in enumerate(_layer_names(config.resolution)):
        names |= {
            f"{ours}.weight": f"{theirs}.conv.weight",
            f"{ours}.affine.weight": f"{theirs}.conv.modulation.weight",
            f"{ours}.affine.bias": f"{theirs}.conv.modulation.bias",
            f"{ours}.noise_strength": f"{theirs}.noise.weight",
            f"{ours}.bias": f"{theirs}.activate.bias",
            f"{ours}.noise_const": f"noises.noise_{noise_index}",
        }
    for index, resolution in enumerate(4 * 2**i for i in range(len(config.channels))):
        theirs = "to_rgb1" if resolution == 4 else f"to_rgbs.{index - 1}"
        names |= {
            f"synthesis.b{resolution}.torgb.weight": f"{theirs}.conv.weight",
            f"synthesis.b{resolution}.torgb.affine.weight": f"{theirs}.conv.modulation.weight",
            f"synthesis.b{resolution}.torgb.affine.bias": f"{theirs}.conv.modulation.bias",
            f"synthesis.b{resolution}.torgb.bias": f"{theirs}.bias",
        }
    return names


def config_from_rosinality(state: dict[str, Tensor]) -> StyleGAN2Config:
    """The architecture of a rosinality ``g_ema`` state dict, read off its tensor shapes."""
    layers = sorted(int(m.group(1)) for key in state if (m := re.fullmatch(r"style\.(\d+)\.weight", key)))
    if not layers or "input.input" not in state:
        raise ValueError("not a rosinality StyleGAN2 generator: no 'style.N.weight' / 'input.input' keys")
    to_rgbs = sum(1 for key in state if re.fullmatch(r"to_rgbs\.\d+\.bias", key))
    channels = [state["input.input"].shape[1]] + [state[f"convs.{2 * i}.conv.weight"].shape[1] for i in range(to_rgbs)]
    weight = state[f"style.{layers[0]}.weight"]
    return StyleGAN2Config(
        resolution=4 * 2**to_rgbs, channels=tuple(channels), z_dim=weight.shape[1], w_dim=weight.shape[0],
        mapping_layers=len(layers),
    )  # fmt: skip


def from_rosinality(state: dict[str, Tensor], config: StyleGAN2Config) -> dict[str, Tensor]:
    """Our state dict (without ``mapping.w_avg``) from a rosinality ``g_ema`` state dict."""
    ours = {}
    for name, theirs in rosinality_names(config).items():
        if theirs not in state:
            raise ValueError(f"rosinality checkpoint lacks {theirs!r} (needed for {name})")
        tensor = state[theirs].float()
        if name.endswith("noise_strength"):
            tensor = tensor.reshape([])
        elif name.endswith("noise_const"):
            tensor = tensor[0, 0]
        elif name.endswith(("b4.const", "conv0.weight", "conv1.weight", "torgb.weight")):
            tensor = tensor[0]
        elif name.endswith("torgb.bias"):
            tensor = tensor.reshape(-1)
        ours[name] = tensor
    return ours


def to_rosinality(ours: dict[str, Tensor], config: StyleGAN2Config) -> dict[str, Tensor]:
    """The rosinality ``g_ema`` layout of our state dict (the inverse of :func:`from_rosinality`)."""
    state = {}
    for name, theirs in rosinality_names(config).items():
        tensor = ours[name]
        if name.endswith("noise_strength"):
            tensor = tensor.reshape(1)
        elif name.endswith("noise_const"):
            tensor = tensor[None, None]
        elif name.endswith(("b4.const", "conv0.weight", "conv1.weight", "torgb.weight")):
            tensor = tensor[None]
        elif name.endswith("torgb.bias"):
            tensor = tensor.reshape(1, 3, 1, 1)
        state[theirs] = tensor
    return state


def read_rosinality(path: Path) -> tuple[dict[str, Tensor], StyleGAN2Config]:
    """Our state dict and config from a rosinality ``.pt`` (``torch.load(weights_only=True)``)."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"{path} is not a checkpoint readable with torch.load(weights_only=True): {error}") from error
    state = checkpoint.get("g_ema", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds no 'g_ema' state dict (rosinality/stylegan2-pytorch layout)")
    config = config_from_rosinality(state)
    ours = from_rosinality(state, config)
    if isinstance(checkpoint.get("latent_avg"), Tensor):
        ours["mapping.w_avg"] = checkpoint["latent_avg"].float().reshape(-1)
    return ours, config


def read_nvlabs_pickle(path: Path) -> tuple[dict[str, Tensor], StyleGAN2Config]:
    """Our state dict and config from an official StyleGAN2(-ADA) network ``.pkl`` (its ``G_ema``)."""
    data = load_network_pickle(path)
    generator = data.get("G_ema") if isinstance(data, dict) else None
    if not isinstance(generator, PersistentObject):
        raise ValueError(f"{path} has no 'G_ema' network (NVlabs stylegan2-ada-pytorch .pkl layout)")
    attributes = generator.state
    if attributes.get("c_dim", 0):
        raise ValueError(
            f"{path} is class-conditional (c_dim={attributes['c_dim']}); only unconditional generators load"
        )
    tensors = {name: tensor.float() for name, tensor in module_tensors(generator).items()}
    tensors = {name: tensor for name, tensor in tensors.items() if not name.endswith("resample_filter")}
    kwargs = attributes.get("init_kwargs") or {}
    mapping_kwargs = kwargs.get("mapping_kwargs") or {}
    layers = sum(1 for name in tensors if re.fullmatch(r"mapping\.fc\d+\.weight", name))
    resolution = int(attributes.get("img_resolution") or 0)
    channels = [tensors["synthesis.b4.const"].shape[0]]
    channels += [
        tensors[f"synthesis.b{4 * 2**i}.conv0.weight"].shape[0] for i in range(1, int(math.log2(resolution)) - 1)
    ]
    config = StyleGAN2Config(
        resolution=resolution, channels=tuple(channels), z_dim=int(attributes["z_dim"]), w_dim=int(attributes["w_dim"]),
        mapping_layers=layers, mapping_lr_multiplier=float(mapping_kwargs.get("lr_multiplier", 0.01)),
        conv_clamp=(kwargs.get("synthesis_kwargs") or {}).get("conv_clamp"),
    )  # fmt: skip
    return tensors, config


def build_generator(tensors: dict[str, Tensor], config: StyleGAN2Config, source: Path | str) -> Generator:
    """A :class:`Generator` holding ``tensors``; ``w_avg`` estimated (seeded) when the file has none."""
    generator = Generator(config)
    missing, unexpected = generator.load_state_dict(tensors, strict=False)
    missing = [name for name in missing if name != "mapping.w_avg"]
    if missing or unexpected:
        raise ValueError(f"{source} does not fit StyleGAN2 {config}: missing {missing}, unexpected {unexpected}")
    if "mapping.w_avg" not in tensors:
        with torch.no_grad():
            z = torch.randn(W_AVG_SAMPLES, config.z_dim, generator=torch.Generator().manual_seed(0))
            generator.mapping.w_avg.copy_(generator.mapping(z).mean(0))
    return generator.eval().requires_grad_(False)


def read_generator(path: Path) -> Generator:
    """A StyleGAN2 generator from a rosinality ``.pt``/``.pth``, an NVlabs ``.pkl`` or our ``.safetensors``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"StyleGAN2 weights not found: {path}")
    if path.suffix == ".pkl":
        tensors, config = read_nvlabs_pickle(path)
    elif path.suffix in (".pt", ".pth"):
        tensors, config = read_rosinality(path)
    elif path.suffix == ".safetensors":
        tensors, meta = load_tensors(path)
        if meta.get("kind") != "stylegan2":
            raise ValueError(f"{path.with_suffix('.json')} does not describe a StyleGAN2 generator")
        config = StyleGAN2Config.from_dict(meta["model"])
    else:
        raise ValueError(f"{path}: expected a .pt/.pth (rosinality), .pkl (NVlabs) or .safetensors file")
    return build_generator(tensors, config, path)


def convert_file(source: Path, output: Path) -> Path:
    """Write ``source`` (.pt or .pkl) as our ``output`` .safetensors + .json; returns ``output``."""
    generator = read_generator(source)
    save_tensors(output, generator.state_dict(), {"kind": "stylegan2", "model": generator.config.to_dict(), "source": Path(source).name})  # fmt: skip
    return Path(output)


if __name__ == "__main__":  # python -m engines.models.stylegan2.convert SRC.pt|SRC.pkl OUT.safetensors
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m engines.models.stylegan2.convert SOURCE.pt|SOURCE.pkl OUTPUT.safetensors")
    print(f"wrote {convert_file(Path(sys.argv[1]), Path(sys.argv[2]))}")
