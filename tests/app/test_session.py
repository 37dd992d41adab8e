"""Run bookkeeping: one run per session, stop, and the heap trim after finished runs."""

from __future__ import annotations

import sys

import pytest

import app.session as session
from app import memory
from app.session import RunInProgress, SessionRegistry


def test_one_run_per_session_and_stop():
    registry = SessionRegistry()
    stop = registry.start("a")
    with pytest.raises(RunInProgress):
        registry.start("a")
    assert registry.stop("a") and stop.is_set()
    registry.finish("a", stop)
    assert not registry.is_running("a") and not registry.stop("a")


def test_finished_runs_trim_the_heap_at_most_once_per_interval(monkeypatch):
    calls = []
    monkeypatch.setattr(session.memory, "trim_heap", lambda: calls.append(1) or True)
    registry = SessionRegistry()
    for name in ("a", "b", "c"):
        registry.finish(name, registry.start(name))
    assert len(calls) == 1  # three runs within TRIM_INTERVAL_SECONDS: one trim
    monkeypatch.setattr(session, "TRIM_INTERVAL_SECONDS", 0.0)
    registry.finish("d", registry.start("d"))
    assert len(calls) == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim and mallopt are glibc's")
def test_glibc_calls_are_made_on_linux():
    assert memory.trim_heap() is True
    assert memory.limit_arenas(8) is True  # a generous cap: harmless in the test process


def test_supersede_stops_the_owners_run_and_waits_for_its_end():
    import threading

    registry = SessionRegistry()
    stop = registry.start("a", owner="image")
    assert not registry.supersede("a", owner="pose")  # another tab's loader never ends this run
    assert not stop.is_set()
    finished = threading.Timer(0.2, lambda: registry.finish("a", stop))
    finished.start()
    assert registry.supersede("a", owner="image", timeout=5.0)
    assert stop.is_set() and stop.superseded and stop.ended.is_set() and not registry.is_running("a")
    assert not registry.supersede("a", owner="image")  # nothing left to end
