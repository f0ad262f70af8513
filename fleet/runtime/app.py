"""One fleet application per process: settings, broker, worker runtime, heartbeat.

Entry points (``actors``, ``schedules``, ``fleet dev``) call :func:`boot`; the
first call builds the broker with fleet's middleware and installs it, later
calls in the same process get the same application, so ``dramatiq actors
schedules`` declares every actor on one broker.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from dramatiq import Broker, Middleware

from fleet.runtime.broker import install, make_sender
from fleet.runtime.heartbeat import Heartbeat, HeartbeatMiddleware
from fleet.runtime.process import WorkerRuntime
from fleet.runtime.registration import RegistrationMiddleware
from fleet.runtime.shutdown import GracefulShutdownMiddleware
from fleet.settings import Settings


@dataclass
class FleetApp:
    """What one process runs on."""

    settings: Settings
    broker: Broker
    runtime: WorkerRuntime
    heartbeat: Heartbeat


def worker_middleware(rt: WorkerRuntime, heartbeat: Heartbeat) -> list[Middleware]:
    """fleet's worker middleware, in the order their shutdown hooks must run.

    At shutdown: release in-flight runs, then stop the heartbeat, then go
    offline. At boot: register (before_worker_boot), then beat (after).
    """
    return [GracefulShutdownMiddleware(rt), HeartbeatMiddleware(rt, heartbeat),
            RegistrationMiddleware(rt)]


def build(settings: Settings, *, name: str = "worker") -> FleetApp:
    """A new application for ``settings`` whose broker becomes Dramatiq's global one."""
    rt = WorkerRuntime(settings, name=name)
    hb = Heartbeat(rt)
    broker = install(settings, worker_middleware(rt, hb))
    rt.set_sender(make_sender(broker, settings.queue_name))
    return FleetApp(settings=settings, broker=broker, runtime=rt, heartbeat=hb)


_lock = threading.Lock()
_current: FleetApp | None = None


def boot(settings: Settings | None = None, *, name: str = "worker") -> FleetApp:
    """The process's application, built on the first call (``Settings()`` by default)."""
    global _current
    with _lock:
        if _current is None:
            _current = build(settings if settings is not None else Settings(), name=name)
        return _current


def current() -> FleetApp | None:
    """The process's application, if one was booted."""
    return _current
