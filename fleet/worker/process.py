"""The state one worker process shares between its middleware and its actors.

A :class:`WorkerRuntime` is built by the entry point (``actors``, ``fleet dev``)
from settings. It owns the process's database engine (created lazily, after a
fork), its runtime id, its run sender and the table of leases it holds, which
the single heartbeat thread extends in one batched update.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from fleet.clock import Clock, utcnow
from fleet.engine.blocks.registry import BlockRegistry, default_registry
from fleet.ports import AlertPort, Liveness, RunSender
from fleet.runs.execute import StopSignal, execute
from fleet.runs.leases import Lease
from fleet.runs.sending import Sent, send_and_record
from fleet.runs.writer import RunWriter
from fleet.settings import Settings
from fleet.store.clock import read_now
from fleet.store.db import engine_for, session_factory
from fleet.store.types import new_id
from fleet.worker.liveness import RedisLiveness

log = logging.getLogger(__name__)

Executor = Callable[..., Any]
"""The shape of :func:`fleet.runs.execute.execute`: (open_session, lease, *, registry,
settings, clock, stop) -> Outcome."""


@dataclass
class Held:
    """One lease this process holds and the stop signal of its execution."""

    lease: Lease
    stop: StopSignal


class WorkerRuntime:
    """Per-process state of a worker: runtime id, database, sender, held leases."""

    def __init__(self, settings: Settings, *, clock: Clock = utcnow,
                 liveness: Liveness | None = None, sender: RunSender | None = None,
                 make_stop: Callable[[], StopSignal] = StopSignal, name: str = "worker",
                 registry: BlockRegistry | None = None,
                 executor: Executor | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.runtime_id = new_id()
        self.name = name
        self.make_stop = make_stop
        self._liveness = liveness
        self._sender = sender
        self._urgent: RunSender | None = None
        self._redeliver: RunSender | None = None
        self.consumer_id: str | None = None  # the Redis broker's id: its fetched messages
        # The database clock minus this host's: lease times follow the database's clock.
        self.db_offset = timedelta(0)
        self.alerts: AlertPort | None = None  # where the scheduler watch raises its alert
        # dead runtime ids -> runs they had fetched but not started (Redis only)
        # (dead runtime ids, run ids already sent) -> runs they had fetched; set by the app
        self.find_prefetched: Callable[[Sequence[str], Collection[str]], list[str]] | None = None
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._held: dict[str, Held] = {}
        self._drained = threading.Condition(self._lock)
        self.shutting_down = threading.Event()
        self.registered = False
        self.registration_pending = False  # boot could not register: the heartbeat will
        self.concurrency = 1
        self.queues: list[str] = [settings.queue_name]
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self._registry = registry
        # The process's writer: checkpoints and finishes of its threads share transactions.
        self.writer = RunWriter(self.open_session, window_s=settings.group_commit_ms / 1000,
                                budget_s=settings.db_outage_budget_s)
        self.executor: Executor = executor or functools.partial(execute, writer=self.writer)

    def lease_now(self) -> datetime:
        """The current time on the database's clock (this host's clock, corrected).

        Every lease time (claim, heartbeat, expiry) is taken from it, so hosts
        whose clocks disagree cannot reap each other's live runs.
        """
        return self.clock() + self.db_offset

    def sync_clock(self) -> timedelta:
        """Measure this host's offset from the database's clock (one round trip)."""
        with self.open_session() as session:
            before = self.clock()
            db = read_now(session)
            after = self.clock()
            session.commit()
        self.db_offset = db - (before + (after - before) / 2)
        return self.db_offset

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
                self._engine = engine_for(self.settings, pool_size=max(5, self.concurrency + 2))
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

    def set_sender(self, sender: RunSender, urgent: RunSender | None = None,
                   redeliver: RunSender | None = None) -> None:
        """Set how this process hands run ids to the broker (urgent ones, and delayed ones)."""
        self._sender = sender
        self._urgent = urgent
        self._redeliver = redeliver

    def send_or_raise(self, run_id: str) -> None:
        """Send ``run_id`` to the broker; raises when there is no sender or the broker refused."""
        if self._sender is None:
            raise ConnectionError("this process has no broker sender")
        self._sender(run_id)

    def redeliver(self, run_id: str) -> None:
        """Put a message for ``run_id`` back on the broker, due again in a little while.

        For a claim that could not reach the database: the message is not lost
        (nor acknowledged as done); when the broker refuses too, the run is still
        queued in the database and the re-send sweep sends it.
        """
        try:
            if self._redeliver is None:
                raise ConnectionError("this process has no broker")
            self._redeliver(run_id)
            log.warning("run %s: the database stayed unreachable for %gs; its message is "
                        "delivered again later", run_id, self.settings.db_outage_budget_s)
        except Exception as exc:
            log.warning("run %s: neither the database nor the broker answers (%s); the "
                        "re-send sweep will send it", run_id, type(exc).__name__)

    def send_urgent_or_raise(self, run_id: str) -> None:
        """Send ``run_id`` on the urgent queue (ahead of the backlog); the run queue without one."""
        if self._urgent is None:
            self.send_or_raise(run_id)
            return
        self._urgent(run_id)

    def send_runs(self, run_ids: Sequence[str], *, what: str = "run",
                  urgent: bool = False) -> Sent:
        """Send queued runs and record the sends; what could not go waits for the re-send sweep.

        Never raises: a broker or database error is logged and the runs stay
        queued (the re-send sweep covers them).
        """
        if not run_ids:
            return Sent()
        try:
            with self.open_session() as session:
                send = self.send_urgent_or_raise if urgent else self.send_or_raise
                return send_and_record(session, run_ids, self.clock(), send, what=what)
        except Exception as exc:
            log.warning("could not record the send of %d %s(s) (%s); the re-send sweep "
                        "covers them", len(run_ids), what, exc.__class__.__name__)
            return Sent(unsent=list(run_ids), error=type(exc).__name__)

    def block_registry(self) -> BlockRegistry:
        """The engine's block registry, built once per process."""
        if self._registry is None:
            self._registry = default_registry()
        return self._registry

    # --- held leases -----------------------------------------------------------

    def hold(self, lease: Lease, stop: StopSignal) -> None:
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

    def stop_for(self, lease_id: str) -> StopSignal | None:
        """The stop signal of the execution holding ``lease_id``."""
        with self._lock:
            h = self._held.get(lease_id)
            return h.stop if h else None

    def wait_drained(self, timeout_s: float) -> bool:
        """Wait until no lease is held (executions returned); False on timeout."""
        with self._drained:
            return self._drained.wait_for(lambda: not self._held, timeout=timeout_s)

    def close(self) -> None:
        """Stop the writer, dispose of the engine."""
        self.writer.close()
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
