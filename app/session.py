"""Per-session run bookkeeping: one stop event per browser session, one run at a time.

Sessions are keyed by Gradio's ``session_hash`` (each browser tab and each
``gradio_client.Client`` has its own). Only plain ``threading.Event`` objects live
here; models and tensors never do.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from app import memory

TRIM_INTERVAL_SECONDS = 5.0  # at most this often, a finished run hands freed heap pages back to the system


class RunInProgress(RuntimeError):
    """Raised when a session asks for a second run while its first is still going."""


class RunStop(threading.Event):
    """A run's stop event, plus what the page needs to end it for a new target: which tab owns the run
    (``owner``), whether a new target ``superseded`` it (then it yields nothing more), and ``ended``, set
    once the run has finished."""

    def __init__(self, owner: str = "") -> None:
        super().__init__()
        self.owner = owner
        self.superseded = False
        self.ended = threading.Event()


class SessionRegistry:
    """Tracks which sessions are running and lets another request stop them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, threading.Event] = {}
        self._trimmed = -float("inf")

    def start(self, session_id: str, owner: str = "") -> RunStop:
        """Register a new run for ``session_id`` (of tab ``owner``) and return its stop event."""
        with self._lock:
            if session_id in self._runs:
                raise RunInProgress("a run is already going in this session: press Stop first")
            stop = RunStop(owner)
            self._runs[session_id] = stop
            return stop

    def stop(self, session_id: str) -> bool:
        """Ask the session's run to stop after its current step; False when none is running."""
        with self._lock:
            stop = self._runs.get(session_id)
        if stop is None:
            return False
        stop.set()
        return True

    def supersede(self, session_id: str, owner: str, timeout: float = 15.0) -> bool:
        """End the session's run of tab ``owner`` for a new target: it is stopped, marked ``superseded`` (so
        it yields nothing more) and awaited (at most ``timeout`` s), so that whatever the caller shows next
        reaches the page after the run's last frame. False when no such run was going."""
        with self._lock:
            stop = self._runs.get(session_id)
        if not isinstance(stop, RunStop) or stop.owner != owner:
            return False
        stop.superseded = True
        stop.set()
        stop.ended.wait(timeout)
        return True

    def finish(self, session_id: str, stop: threading.Event) -> None:
        """Forget the run that owns ``stop`` (a no-op if a newer run replaced it); then, at most every
        ``TRIM_INTERVAL_SECONDS``, return the heap's free pages to the system (:func:`app.memory.trim_heap`)."""
        with self._lock:
            if self._runs.get(session_id) is stop:
                del self._runs[session_id]
            if isinstance(stop, RunStop):
                stop.ended.set()
            now = time.monotonic()
            due = now - self._trimmed >= TRIM_INTERVAL_SECONDS
            if due:
                self._trimmed = now
        if due:
            memory.trim_heap()

    def is_running(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._runs

    def forget(self, session_id: str) -> None:
        """Stop and drop a session's run (used when the browser tab closes)."""
        self.stop(session_id)
        with self._lock:
            self._runs.pop(session_id, None)


SESSIONS = SessionRegistry()


def session_id(request: Any) -> str:
    """The session key of a Gradio request (any object with ``session_hash``); "local" without one."""
    return str(getattr(request, "session_hash", None) or "local")
