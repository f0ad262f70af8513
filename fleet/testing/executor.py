"""A scripted executor: the double of :func:`fleet.runs.execute.execute` for worker tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fleet.runs.execute import StopSignal
from fleet.runs.leases import Lease

Body = Callable[[Any, Lease, StopSignal], Any]


class ScriptedExecutor:
    """Records each lease it is asked to execute and runs ``body`` (if any) for it."""

    def __init__(self, body: Body | None = None) -> None:
        self.calls: list[Lease] = []
        self.body = body
        self._lock = threading.Lock()

    def __call__(self, open_session: Any, lease: Lease, *, registry: Any, settings: Any,
                 clock: Any, stop: StopSignal) -> Any:
        with self._lock:
            self.calls.append(lease)
        if self.body is not None:
            return self.body(open_session, lease, stop)
        return "ok"
