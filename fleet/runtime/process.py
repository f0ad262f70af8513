"""The state one worker process shares between its middleware and its actors.

A :class:`WorkerRuntime` is built by the entry point (``actors``, ``fleet dev``)
from settings. It owns the process's database engine (created lazily, after a
fork), its runtime id, its run sender and the table of leases it holds, which
the single heartbeat thread extends in one batched update.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from fleet.clock import Clock, utcnow
from fleet.runs.leases import Lease
from fleet.runtime.liveness import Liveness, RedisLiveness
from fleet.settings import Settings
from fleet.store.db import make_engine, session_factory
from fleet.store.types import new_id
from fleet.sweeps.base import RunSender

log = logging.getLogger(__name__)


class Stop(Protocol):
    """What the runtime needs of the engine's ``StopSignal``."""

    def request(self, reason: str) -> None:
        """Ask the execution to stop for ``reason`` (cancelled, lease_lost, shutdown)."""

    def reason(self) -> str | None:
        """The first reason requested, or None."""
        ...


def _engine_stop() -> Stop:
    from fleet.engine.executor import StopSignal

    signal: Stop = StopSignal()
    return signal


@dataclass
class Held:
    """One lease this process holds and the stop signal of its execution."""

    lease: Lease
    stop: Stop


class WorkerRuntime:
    """Per-process state of a worker: runtime id, database, sender, held leases."""

    def __init__(self, settings: Settings, *, clock: Clock = utcnow,
                 liveness: Liveness | None = None, sender: RunSender | None = None,
                 make_stop: Callable[[], Stop] = _engine_stop, name: str = "worker",
                 registry: Any = None) -> None:
        self.settings = settings
        self.clock = clock
        self.runtime_id = new_id()
        self.name = name
        self.make_stop = make_stop
        self._liveness = liveness
        self._sender = sender
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._held: dict[str, Held] = {}
        self._drained = threading.Condition(self._lock)
        self.shutting_down = threading.Event()
        self.registered = False
        self.concurrency = 1
        self.queues: list[str] = [settings.queue_name]
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self._registry: Any = registry

    def refresh_identity(self) -> None:
        """Take a new runtime id and pid when this object crossed a fork."""
        if self.pid != os.getpid():
            self.pid = os.getpid()
            self.runtime_id = new_id()
            self._engine = None  # a parent's pooled connections are not ours

    # --- ports ---------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The process's database engine (built on first use, i.e. after a fork)."""
        with self._lock:
            if self._engine is None:
                self._engine = make_engine(
                    self.settings.database_url,
                    busy_timeout_ms=self.settings.sqlite_busy_timeout_ms,
                    pool_size=max(5, self.concurrency + 2),
                )
            return self._engine

    def open_session(self) -> Session:
        """A new session on the process's database."""
        return session_factory(self.engine)()

    @property
    def liveness(self) -> Liveness | None:
        """Redis liveness keys when Redis is configured, else None (trust the database)."""
        if self._liveness is None and self.settings.redis_url:
            self._liveness = RedisLiveness(self.settings.redis_url)
        return self._liveness

    def set_sender(self, sender: RunSender) -> None:
        """Set how this process hands run ids to the broker."""
        self._sender = sender

    def send_or_raise(self, run_id: str) -> None:
        """Send ``run_id`` to the broker; raises when there is no sender or the broker refused."""
        if self._sender is None:
            raise ConnectionError("this process has no broker sender")
        self._sender(run_id)

    def send(self, run_id: str) -> bool:
        """Send ``run_id`` to the broker; False (logged) when the broker refused."""
        if self._sender is None:
            log.info("run %s left queued: this process has no sender", run_id)
            return False
        try:
            self._sender(run_id)
            return True
        except Exception as exc:
            log.warning("could not send run %s (%s); the re-send sweep will send it later",
                        run_id, exc.__class__.__name__)
            return False

    def block_registry(self) -> Any:
        """The engine's block registry, built once per process."""
        if self._registry is None:
            from fleet.engine.blocks.registry import default_registry

            self._registry = default_registry()
        return self._registry

    # --- held leases -----------------------------------------------------------

    def hold(self, lease: Lease, stop: Stop) -> None:
        """Register a lease with the heartbeat."""
        with self._lock:
            self._held[lease.lease_id] = Held(lease, stop)

    def unhold(self, lease_id: str) -> None:
        """Forget a lease (its execution ended)."""
        with self._lock:
            self._held.pop(lease_id, None)
            self._drained.notify_all()

    def held(self) -> list[Held]:
        """A snapshot of the leases held right now."""
        with self._lock:
            return list(self._held.values())

    def stop_for(self, lease_id: str) -> Stop | None:
        """The stop signal of the execution holding ``lease_id``."""
        with self._lock:
            h = self._held.get(lease_id)
            return h.stop if h else None

    def wait_drained(self, timeout_s: float) -> bool:
        """Wait until no lease is held (executions returned); False on timeout."""
        with self._drained:
            return self._drained.wait_for(lambda: not self._held, timeout=timeout_s)

    def close(self) -> None:
        """Dispose of the engine."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
