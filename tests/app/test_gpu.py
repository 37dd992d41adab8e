"""``@gpu`` is ``spaces.GPU`` only on ZeroGPU; elsewhere the function itself."""

from __future__ import annotations

import torch

from app import gpu


def steps(count: int):
    yield from range(count)


def test_gpu_is_a_no_op_off_zero_gpu(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert not gpu.on_zero_gpu()
    assert gpu.gpu(steps) is steps
    assert gpu.device_outside_gpu_functions() == torch.device("cpu") or torch.cuda.is_available()


def test_zero_gpu_wraps_with_spaces(monkeypatch):
    import spaces

    wrapped_with = []
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setattr(spaces, "GPU", lambda duration: lambda function: wrapped_with.append(duration) or function)
    assert gpu.on_zero_gpu()
    assert gpu.gpu(steps) is steps and wrapped_with == [gpu.GPU_SECONDS]
    assert gpu.device_outside_gpu_functions() == torch.device("cpu")
