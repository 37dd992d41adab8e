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


class RunsOutOfMemory(torch.nn.Module):
    """Wraps a forward model and raises CUDA's out-of-memory error for batches above ``max_batch``."""

    def __init__(self, inner: torch.nn.Module, max_batch: int):
        super().__init__()
        self.inner, self.max_batch, self.largest_seen = inner, max_batch, 0
        self.input_dim, self.output_shape = inner.input_dim, inner.output_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(x) > self.max_batch:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        self.largest_seen = max(self.largest_seen, len(x))
        return self.inner(x)


def test_halving_retries_until_the_batch_fits_and_reraises_other_errors():
    from engines.core.device import DeviceOutOfMemoryError, halve_on_out_of_memory

    tried = []

    def run(batch):
        tried.append(batch)
        if batch > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return batch

    assert halve_on_out_of_memory(run, 10) == 3 and tried == [10, 5, 3]
    with pytest.raises(DeviceOutOfMemoryError, match="--device cpu"):
        halve_on_out_of_memory(lambda batch: run(batch + 10), 4)
    with pytest.raises(ZeroDivisionError):
        halve_on_out_of_memory(lambda batch: 1 / 0, 4)


def test_benchmark_runs_split_targets_on_out_of_memory_with_the_same_figures(tiny_model):
    from engines.core.evaluation import run_space
    from engines.core.mapping import MappingConfig, MappingNetwork

    torch.manual_seed(0)
    mapping = MappingNetwork(MappingConfig(z_dim=8, x_dim=8, hidden=16)).requires_grad_(False)
    targets = tiny_model(torch.randn(6, 8, generator=torch.Generator().manual_seed(2)))
    whole = run_space(tiny_model, targets, mapping=mapping, lr=0.1, steps=4)
    limited = RunsOutOfMemory(tiny_model, max_batch=2)
    split = run_space(limited, targets, mapping=mapping, lr=0.1, steps=4)
    assert limited.largest_seen == 2
    assert split.losses == pytest.approx(whole.losses, rel=1e-5)
    assert split.last.output.shape == whole.last.output.shape and torch.allclose(split.last.z, whole.last.z, atol=1e-6)


def test_landscape_grid_halves_its_chunk_on_out_of_memory(tiny_model, tiny_targets):
    from engines.core.landscape import batched_losses

    latents = torch.randn(20, 8, generator=torch.Generator().manual_seed(3))
    whole = torch.cat(list(batched_losses(tiny_model, tiny_targets[:1], latents, chunk=8)))
    limited = RunsOutOfMemory(tiny_model, max_batch=3)
    parts = list(batched_losses(limited, tiny_targets[:1], latents, chunk=8))
    assert max(len(part) for part in parts) <= 3 and torch.allclose(torch.cat(parts), whole, atol=1e-6)


def test_steps_can_stay_on_the_device_until_shown(tiny_model, tiny_targets):
    from engines.core.optim import invert

    kept = list(invert(tiny_model, tiny_targets, steps=2, keep_on_device=True))
    moved = list(invert(tiny_model, tiny_targets, steps=2))
    for step, reference in zip(kept, moved):
        shown = step.cpu()
        assert shown.x.device.type == "cpu" and torch.equal(shown.x, reference.x)
        assert torch.equal(shown.losses, reference.losses) and torch.equal(shown.output, reference.output)


def test_models_and_mappings_are_cached_per_device(tiny_model):
    from engines.models import registry

    loads = []
    registry.register_model(
        registry.ModelSpec(
            name="tiny-device-cache",
            description="test",
            output_kind="image",
            load=lambda: loads.append(1) or tiny_model,
        )
    )
    try:
        first = registry.load_model("tiny-device-cache", "cpu")
        assert registry.load_model("tiny-device-cache", torch.device("cpu")) is first
        assert registry.load_model("tiny-device-cache") is first and len(loads) == 1
    finally:
        registry.MODELS.pop("tiny-device-cache")
        registry.load_model.cache_clear()
