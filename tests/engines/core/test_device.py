"""The device policy: auto always resolves, unknown or absent devices raise a clear error."""

from __future__ import annotations

import argparse

import pytest
import torch

from engines.core.device import add_device_argument, resolve_device


def test_auto_and_cpu_resolve_without_a_gpu():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else None
    assert resolve_device("auto").type in ({expected} if expected else {"cpu", "mps"})
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_bad_devices_raise_clear_errors():
    with pytest.raises(ValueError, match="choose from auto, cpu, cuda, mps"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_device_argument_defaults_to_auto():
    parser = argparse.ArgumentParser()
    add_device_argument(parser)
    assert parser.parse_args([]).device == "auto"
    assert parser.parse_args(["--device", "cpu"]).device == "cpu"
