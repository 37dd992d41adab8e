"""The app survives the GPU running out of memory: fewer hypotheses, a message, never a dead session."""

from __future__ import annotations

import threading

import pytest
import torch

from app import runs
from app.runs import RunSettings, stream_run
from app.targets import Target


@pytest.fixture
def limited_model(monkeypatch, tiny_model):
    """``faces64``-like runs on the tiny model, which 'runs out of memory' above 6 items per pass
    (X, Z and Z→X share each pass: 2 hypotheses each)."""
    from tests.engines.core.test_device import RunsOutOfMemory

    limited = RunsOutOfMemory(tiny_model, max_batch=6)
    monkeypatch.setattr(runs, "load_model", lambda name, device="cpu": limited)
    mapping = runs._random_mapping("tiny-oom", tiny_model.input_dim)  # Z and Z→X need a Θ
    monkeypatch.setattr(runs, "get_mapping", lambda name, device="cpu": (mapping, ""))
    monkeypatch.setattr(RunSettings, "__post_init__", lambda self: None)
    return limited


def target_of(model) -> Target:
    image = torch.zeros(1, *model.output_shape)
    return Target(image=image, weight=torch.ones(1, 1, *model.output_shape[1:]), fingerprint="oom-test")


def test_out_of_memory_retries_with_fewer_hypotheses_and_says_so(limited_model):
    settings = RunSettings(model="tiny", steps=3, num_hypotheses=8, z_init="random")
    frames = list(stream_run(target_of(limited_model), settings, threading.Event()))
    assert frames[-1].done and "Done at step 3/3" in frames[-1].status
    assert "GPU out of memory with 4 hypotheses: running 2" in frames[-1].status
    assert limited_model.largest_seen == 6 and len(frames[-1].x_gallery) == 2  # 3 x (8 -> 4 -> 2) fit
    assert len(frames[-1].z_gallery) == len(frames[-1].zx_gallery) == 2


def test_out_of_memory_with_one_hypothesis_is_a_clear_error(limited_model):
    limited_model.max_batch = 0
    settings = RunSettings(model="tiny", steps=3)
    with pytest.raises(ValueError, match="ran out of memory even with one hypothesis"):
        list(stream_run(target_of(limited_model), settings, threading.Event()))
