"""Weights as safetensors + JSON config, the asset manifest, and the one asset resolver.

A checkpoint ``NAME`` is two files: ``NAME.safetensors`` (tensors) and ``NAME.json``
(config and metadata). Nothing here unpickles, and nothing downloads.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
MANIFEST = ASSETS_DIR / "manifest.json"
ASSETS_ENV = "LANDSCAPE_ASSETS"


def save_tensors(path: Path, tensors: dict[str, Tensor], config: dict) -> None:
    """Write ``path`` (.safetensors) and its ``.json`` config next to it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    contiguous = {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
    tmp = path.with_suffix(".tmp")
    save_file(contiguous, str(tmp))
    os.replace(tmp, path)
    path.with_suffix(".json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def load_tensors(path: Path) -> tuple[dict[str, Tensor], dict]:
    """Read a checkpoint written by :func:`save_tensors`; clear errors for missing files."""
    path = Path(path)
    config_path = path.with_suffix(".json")
    for required in (path, config_path):
        if not required.is_file():
            raise FileNotFoundError(f"checkpoint file missing: {required}")
    try:
        tensors = load_file(str(path))
    except Exception as error:
        raise ValueError(f"{path} is not a readable safetensors file: {error}") from error
    return tensors, json.loads(config_path.read_text())


def save_module(path: Path, module: nn.Module, config: dict) -> None:
    save_tensors(path, module.state_dict(), config)


def load_module_state(module: nn.Module, tensors: dict[str, Tensor], source: Path | str) -> nn.Module:
    missing, unexpected = module.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise ValueError(f"{source} does not fit {type(module).__name__}: missing {missing}, unexpected {unexpected}")
    return module


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest() -> dict:
    return json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {}


def register_asset(name: str, path: Path, *, data: str, licence: str, command: str, extra: dict | None = None) -> dict:
    """Add or replace the manifest entry for a trained checkpoint in ``assets/``."""
    path = Path(path)
    entry = {
        "file": path.name,
        "config": path.with_suffix(".json").name,
        "sha256": sha256(path),
        "bytes": path.stat().st_size,
        "data": data,
        "licence": licence,
        "command": command,
        **(extra or {}),
    }
    manifest = read_manifest()
    manifest[name] = entry
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return entry


def resolve_asset(name: str, *, search: list[Path] | None = None) -> Path:
    """Find checkpoint ``name``: ``assets/`` first, then ``$LANDSCAPE_ASSETS``, then ``search``.

    A file listed in the manifest must match its sha256. Raises ``FileNotFoundError``
    saying exactly which file to put where.
    """
    manifest = read_manifest()
    entry = manifest.get(name, {})
    filename = entry.get("file", f"{name}.safetensors")
    folders = [ASSETS_DIR]
    if os.environ.get(ASSETS_ENV):
        folders.append(Path(os.environ[ASSETS_ENV]))
    folders += list(search or [])
    for folder in folders:
        candidate = folder / filename
        if candidate.is_file() and candidate.with_suffix(".json").is_file():
            if entry.get("sha256") and folder == ASSETS_DIR and sha256(candidate) != entry["sha256"]:
                raise ValueError(f"{candidate} does not match the sha256 in {MANIFEST}; re-run: {entry.get('command')}")
            return candidate
    how = f" (train it with: {entry['command']})" if entry.get("command") else ""
    raise FileNotFoundError(
        f"asset {name!r} not found: put {filename} and {Path(filename).with_suffix('.json').name} "
        f"in {ASSETS_DIR} or in the folder named by ${ASSETS_ENV}{how}"
    )


def assets_present(*names: str) -> bool:
    """True when every named asset resolves (present, and matching the manifest's sha256)."""
    try:
        for name in names:
            resolve_asset(name)
    except (FileNotFoundError, ValueError):
        return False
    return True


def flatten_optimizer_state(
    optimizer: torch.optim.Optimizer, prefix: str = "optimizer"
) -> tuple[dict[str, Tensor], dict]:
    """Split an optimizer state dict into tensors (for safetensors) and JSON-able rest."""
    state = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict] = {}
    for param_id, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, Tensor):
                tensors[f"{prefix}.{param_id}.{key}"] = value
            else:
                scalars.setdefault(str(param_id), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer_state(
    optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict, prefix: str = "optimizer"
) -> None:
    state: dict[int, dict] = {}
    for name, tensor in tensors.items():
        if name.startswith(prefix + "."):
            _, param_id, key = name.split(".", 2)
            state.setdefault(int(param_id), {})[key] = tensor
    for param_id, values in meta["scalars"].items():
        state.setdefault(int(param_id), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
