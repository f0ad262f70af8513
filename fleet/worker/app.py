"""One fleet application: settings, broker, worker runtime and heartbeat, wired together.

:func:`build` makes an application on any broker without touching global
state (tests build one per broker). The Dramatiq and periodiq command lines
need a process-wide broker: their entry modules (``actors.main``,
``schedules.main``) call :func:`boot`, which builds the process's application
once and installs its broker as Dramatiq's global one, so ``dramatiq
actors.main schedules.main`` declares every actor on one broker.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import dramatiq
from dramatiq import Broker, Middleware

from fleet.alerts.service import AlertService
from fleet.settings import Settings
from fleet.worker import orphans
from fleet.worker.broker import build_broker, senders
from fleet.worker.heartbeat import Heartbeat, HeartbeatMiddleware
from fleet.worker.jobs import record_skip
from fleet.worker.process import WorkerRuntime
from fleet.worker.registration import RegistrationMiddleware
from fleet.worker.shutdown import GracefulShutdownMiddleware


@dataclass
class FleetApp:
    """What one process runs on."""

    settings: Settings
    broker: Broker
    runtime: WorkerRuntime
    heartbeat: Heartbeat


def worker_middleware(rt: WorkerRuntime, heartbeat: Heartbeat) -> list[Middleware]:
    """fleet's worker middleware, in the order their hooks must run.

    Dramatiq calls ``before_*`` hooks in list order and ``after_*`` hooks in
    reverse. At boot: register (before_worker_boot), then beat (after). At
    shutdown: release in-flight runs (before_worker_shutdown, the heartbeat
    still extends their leases), then stop the heartbeat, then go offline
    (after_worker_shutdown, reversed: a tick still in flight must not mark the
    runtime online again after it went offline).
    """
    return [GracefulShutdownMiddleware(rt), RegistrationMiddleware(rt),
            HeartbeatMiddleware(rt, heartbeat)]


def build(settings: Settings, *, name: str = "worker", stub: bool | None = None,
          runtime: WorkerRuntime | None = None) -> FleetApp:
    """A new application for ``settings`` on its own broker (nothing global is touched).

    ``stub`` forces the in-memory broker (True) or Redis (False); ``runtime``
    lets a test pass a runtime with its own doubles.
    """
    rt = runtime if runtime is not None else WorkerRuntime(settings, name=name)
    if rt.alerts is None:
        rt.alerts = AlertService.from_settings(settings)
    hb = Heartbeat(rt)
    broker = build_broker(settings, worker_middleware(rt, hb), stub=stub,
                          on_skip=lambda job, _age: record_skip(rt.engine, job, rt.clock()))
    rt.set_sender(*senders(broker, settings))
    rt.find_prefetched = orphans.finder(rt, broker, settings)
    return FleetApp(settings=settings, broker=broker, runtime=rt, heartbeat=hb)


_lock = threading.Lock()
_current: FleetApp | None = None


def boot(settings: Settings | None = None, *, name: str = "worker") -> FleetApp:
    """The process's application, built on the first call and installed as Dramatiq's global
    broker (``Settings()`` from the environment by default)."""
    global _current
    with _lock:
        if _current is None:
            _current = build(settings if settings is not None else Settings(), name=name)
            dramatiq.set_broker(_current.broker)
        return _current
