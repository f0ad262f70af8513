"""Doubles for the runtime tests: a stop signal and a scripted executor."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fleet.runs.leases import Lease
from fleet.runtime.process import WorkerRuntime
from fleet.settings import Settings
from fleet.testing import RecordingSender


class FakeStop:
    """The engine's StopSignal shape: the first reason wins."""

    def __init__(self) -> None:
        self._reason: str | None = None
        self.event = threading.Event()

    def request(self, reason: str) -> None:
        if self._reason is None:
            self._reason = reason
        self.event.set()

    def reason(self) -> str | None:
        return self._reason


class ScriptedExecutor:
    """Stands in for fleet.engine.executor.execute: records calls, runs ``body``."""

    def __init__(self, body: Callable[[Any, Lease, FakeStop], Any] | None = None) -> None:
        self.calls: list[Lease] = []
        self.body = body

    def __call__(self, open_session: Any, lease: Lease, *, registry: Any, settings: Settings,
                 clock: Any, stop: FakeStop) -> Any:
        self.calls.append(lease)
        if self.body is not None:
            return self.body(open_session, lease, stop)
        return "ok"


def make_runtime(settings: Settings, **kw: Any) -> tuple[WorkerRuntime, RecordingSender]:
    """A WorkerRuntime on ``settings`` with a recording sender and fake stop signals."""
    sender = RecordingSender()
    rt = WorkerRuntime(settings, sender=sender, make_stop=FakeStop, registry=object(), **kw)
    return rt, sender
