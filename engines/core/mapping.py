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


def random_mapping(dim: int, *, seed: int = 0, hidden: int = 1024) -> MappingNetwork:
    """An untrained Θ of the paper's shape (dim Z = dim X = ``dim``, 3 layers, ``hidden`` wide, LeakyReLU 0.2),
    seeded, eval mode, frozen: the paper's random-Θ control (§5), and Z-space for a model with no trained Θ yet.
    The global random state is left as it was."""
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        mapping = MappingNetwork(MappingConfig(z_dim=dim, x_dim=dim, hidden=hidden))
    return mapping.eval().requires_grad_(False)


MAX_HIDDEN, MAX_LAYERS, MAX_DIM = 4096, 8, 4096  # a Θ file asking for more is refused, not allocated
MAPPING_FILE_KIND = "landscape-mapping"


def load_mapping_file(path, *, x_dim: int | None = None) -> MappingNetwork:
    """Θ from a checkpoint: ``.safetensors`` + ``.json`` whose config holds ``mapping``, or one ``.safetensors``
    written by :func:`save_mapping_file` (settings in its header). Arrays only: nothing is unpickled.

    x_dim: when given, Θ must produce that many inputs (the model's ``input_dim``). Anything that is not
    such a file, or does not fit, raises ``ValueError`` with a message a visitor can read.
    """
    from pathlib import Path

    from engines.io.checkpoint import load_module_state, load_tensors

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Θ file missing: {path}")
    if path.with_suffix(".json").is_file():
        tensors, meta = load_tensors(path)
    else:
        tensors, meta = read_mapping_file(path)
    if not isinstance(meta.get("mapping"), dict):
        raise ValueError(f"{path.name} is not a Θ file: its settings have no 'mapping' section")
    try:
        config = MappingConfig.from_dict(meta["mapping"])
    except TypeError as error:
        raise ValueError(f"{path.name} is not a Θ file: bad 'mapping' settings ({error})") from None
    if config.hidden > MAX_HIDDEN or config.layers > MAX_LAYERS or max(config.z_dim, config.x_dim) > MAX_DIM:
        raise ValueError(f"{path.name}: Θ is larger than any model here needs ({meta['mapping']})")
    if x_dim is not None and config.x_dim != x_dim:
        raise ValueError(f"{path.name} is a Θ for inputs of size {config.x_dim}; this model takes {x_dim}")
    mapping = MappingNetwork(config)
    try:
        return load_module_state(mapping, {k: v for k, v in tensors.items() if k.startswith("net.")}, path.name)
    except RuntimeError as error:  # a tensor of the wrong shape
        raise ValueError(f"{path.name} does not fit its own settings: {str(error).splitlines()[-1].strip()}") from None


def read_mapping_file(path) -> tuple[dict[str, Tensor], dict]:
    """Tensors and settings of a one-file Θ (:func:`save_mapping_file`); ``ValueError`` for anything else."""
    import json

    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception as error:
        raise ValueError(f"{getattr(path, 'name', path)} is not a safetensors file ({type(error).__name__})") from None
    try:
        meta = {name: json.loads(value) for name, value in header.items()}
    except ValueError:
        raise ValueError(f"{getattr(path, 'name', path)}: its header is not Θ settings") from None
    return tensors, meta


def save_mapping_file(path, mapping: MappingNetwork, info: dict) -> None:
    """Θ as one ``.safetensors`` file: its weights, and in the header its ``mapping`` settings plus ``info``
    (e.g. model, training settings, last probe), each JSON-encoded. Read back by :func:`load_mapping_file`."""
    import json
    from pathlib import Path

    from safetensors.torch import save_file

    header = {name: json.dumps(value) for name, value in info.items()}
    header.update(kind=json.dumps(MAPPING_FILE_KIND), mapping=json.dumps(mapping.config.to_dict()))
    tensors = {name: value.detach().cpu().contiguous() for name, value in mapping.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=header)


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
