"""Reading tensors out of pickled network files without running any code from them.

The official StyleGAN2-ADA ``.pkl`` files pickle whole networks with ``torch_utils.persistence``,
whose loader ``exec``s Python source stored in the file. :func:`load_network_pickle` never does:
a restricted unpickler resolves only an allow-list of globals (tensor and storage rebuilders,
ordered dicts, numpy arrays, dtypes); a persistent network object becomes a plain
:class:`PersistentObject` holding its saved state (its source code is read as text, never run);
``dnnlib`` ``EasyDict`` becomes ``dict``. Any other global (``os.system``, ``builtins.eval``,
``subprocess.Popen``, ...) raises :class:`UnsafePickleError` before it is called.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


class UnsafePickleError(pickle.UnpicklingError):
    """The file asks for a global outside the allow-list: it is refused, nothing from it ran."""


@dataclass
class PersistentObject:
    """A pickled ``torch_utils.persistence`` object: its class name and saved ``state`` (its ``__dict__``)."""

    class_name: str
    state: dict = field(default_factory=dict)


def _reconstruct_persistent_obj(meta: dict) -> PersistentObject:
    """Stands in for ``torch_utils.persistence._reconstruct_persistent_obj``: keeps the state, runs nothing."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise UnsafePickleError("malformed persistent object in the pickle")
    return PersistentObject(class_name=str(meta.get("class_name")), state=meta["state"])


def _load_storage_from_bytes(data: bytes):
    """``torch.storage._load_from_bytes``, but through torch's own weights-only loader."""
    return torch.load(io.BytesIO(data), weights_only=True)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    import numpy

    multiarray = getattr(numpy, "_core", None) or numpy.core
    allowed = {("numpy", "ndarray"): numpy.ndarray, ("numpy", "dtype"): numpy.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = multiarray.multiarray._reconstruct
        allowed[(module, "scalar")] = multiarray.multiarray.scalar
    return allowed


def _allowed_globals() -> dict[tuple[str, str], Any]:
    allowed = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
        ("torch", "Size"): torch.Size,
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
        ("dnnlib.util", "EasyDict"): dict,
        ("dnnlib", "EasyDict"): dict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
    }
    for name in ("float32", "float16", "float64", "int64", "int32", "uint8", "bool"):
        allowed[("torch", name)] = getattr(torch, name)
    allowed.update(_numpy_globals())
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """A pickle reader that resolves only the allow-listed globals (see the module docstring)."""

    def __init__(self, file, *, source: str = "the pickle"):
        super().__init__(file)
        self.source = source
        self.allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.allowed and self.allowed[(module, name)] is not None:
            return self.allowed[(module, name)]
        raise UnsafePickleError(
            f"{self.source} asks to load {module}.{name}, which is not a tensor or plain data: refused "
            "(nothing from the file was run). Convert it to .safetensors with a trusted tool, or use the "
            "rosinality .pt layout."
        )

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.source} uses persistent ids ({pid!r}); not a network pickle")


def load_network_pickle(path: Path) -> Any:
    """The unpickled content of ``path`` with persistent networks as :class:`PersistentObject`.

    Raises :class:`UnsafePickleError` for any global outside the allow-list and ``FileNotFoundError``
    when the file is absent.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"network pickle not found: {path}")
    with open(path, "rb") as handle:
        return RestrictedUnpickler(handle, source=str(path)).load()


def module_tensors(obj: PersistentObject, prefix: str = "") -> dict[str, torch.Tensor]:
    """A pickled ``nn.Module``'s parameters and buffers by dotted name, like its ``state_dict()``."""
    tensors: dict[str, torch.Tensor] = {}
    state = obj.state
    for kind in ("_parameters", "_buffers"):
        for name, tensor in (state.get(kind) or {}).items():
            if tensor is not None:
                tensors[prefix + name] = tensor.detach()
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, PersistentObject):
            tensors.update(module_tensors(child, f"{prefix}{name}."))
    return tensors
