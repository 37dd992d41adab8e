"""The mapping network Θ: Z -> X (a small MLP, as in landscape learning)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from torch import Tensor, nn


@dataclass(frozen=True, kw_only=True)
class MappingConfig:
    """Shape of Θ. Paper defaults: faces dim Z = dim X, hidden 1024; pose Z 128 -> X 32, hidden 512."""

    z_dim: int
    x_dim: int
    hidden: int = 1024
    layers: int = 3
    negative_slope: float = 0.2

    def __post_init__(self) -> None:
        for name in ("z_dim", "x_dim", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"MappingConfig.{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MappingConfig:
        return cls(**data)


class MappingNetwork(nn.Module):
    """Θ: ``B x z_dim`` -> ``B x x_dim``, ``layers`` linear layers with LeakyReLU between them."""

    def __init__(self, config: MappingConfig):
        super().__init__()
        self.config = config
        widths = [config.z_dim] + [config.hidden] * (config.layers - 1) + [config.x_dim]
        modules: list[nn.Module] = []
        for index, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:])):
            modules.append(nn.Linear(width_in, width_out))
            if index < config.layers - 1:
                modules.append(nn.LeakyReLU(config.negative_slope))
        self.net = nn.Sequential(*modules)

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


def load_mapping_file(path) -> MappingNetwork:
    """Θ from a ``.safetensors`` + ``.json`` checkpoint whose config holds ``mapping``."""
    from engines.io.checkpoint import load_module_state, load_tensors

    tensors, meta = load_tensors(path)
    if "mapping" not in meta:
        raise ValueError(f"{path} is not a mapping checkpoint: its .json has no 'mapping' section")
    mapping = MappingNetwork(MappingConfig.from_dict(meta["mapping"]))
    return load_module_state(mapping, {k: v for k, v in tensors.items() if k.startswith("net.")}, path)


class IdentityMapping(nn.Module):
    """x = z, for tests and for expressing X-space as a special case."""

    def __init__(self, dim: int):
        super().__init__()
        self.z_dim = dim

    def forward(self, z: Tensor) -> Tensor:
        return z


class ResidualMapping(nn.Module):
    """x = Θ(z₁) + s·z₂ with z = [z₁, z₂] (``B x (z_dim + x_dim)``): Θ's head start plus a free residual in X.

    The one-optimiser alternative to the Z→X hand-off that the hand-off issue measured; kept for that
    comparison (``scripts/compare_third_mode.py``), not the shipped third mode.
    """

    def __init__(self, mapping: nn.Module, x_dim: int, scale: float = 0.5):
        super().__init__()
        self.mapping, self.x_dim, self.scale = mapping, x_dim, scale
        self.z_dim = mapping.z_dim + x_dim

    def forward(self, z: Tensor) -> Tensor:
        head, residual = z[:, : self.mapping.z_dim], z[:, self.mapping.z_dim :]
        return self.mapping(head) + self.scale * residual
