"""The embedded dev mode: one process with worker threads and periodiq's scheduler loop.

SQLite ``dev.sqlite`` (copied from ``dev.sqlite.example`` when missing), the
in-memory broker (or Redis when configured), a Dramatiq ``Worker`` with
threads, and periodiq's own loop for the periodic actors of ``schedules`` on
the main thread (periodiq wakes up with ``SIGALRM``, which only the main
thread receives). Runs submitted from another terminal cannot reach the
in-memory queue, so a pickup thread sends runs that are queued and unsent.
"""

from __future__ import annotations

import logging
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dramatiq import Worker
from periodiq import Scheduler
from sqlmodel import Session

from fleet.clock import utcnow
from fleet.engine.blocks.registry import default_registry
from fleet.redact import redact_url
from fleet.scheduling import service as schedules
from fleet.settings import Settings
from fleet.store import migrate
from fleet.store import runs as run_store
from fleet.store.db import make_engine, with_retry
from fleet.worker.app import FleetApp
from fleet.worker.app import build as build_app
from fleet.worker.startup import start_jobs
from fleet.worker.wiring import job_context

log = logging.getLogger(__name__)

EXAMPLE_NAME = "dev.sqlite.example"


def sqlite_path(database_url: str) -> Path | None:
    """The file of a ``sqlite:///FILE`` URL, or None for other databases."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or database_url == "sqlite:///:memory:":
        return None
    return Path(database_url[len(prefix):])


def find_example(start: Path | None = None) -> Path | None:
    """``dev.sqlite.example`` in the working directory or the source tree."""
    candidates = [(start or Path.cwd()) / EXAMPLE_NAME,
                  Path(__file__).resolve().parents[2] / EXAMPLE_NAME]
    return next((c for c in candidates if c.is_file()), None)


def prepare_database(settings: Settings, *, example: Path | None = None) -> str:
    """Make the dev database ready: copy the example when missing, then upgrade it.

    Returns a line saying what was done.
    """
    path = sqlite_path(settings.database_url)
    note = f"database {settings.database_url}"
    if path is not None and not path.exists():
        source = example or find_example()
        if source is None:
            note += " (created empty: no dev.sqlite.example found)"
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, path)
            migrate.upgrade(settings.database_url)
            restarted = _restart_schedules(settings)
            return note + f" (copied from {source}; {restarted} schedule(s) start from now)"
    migrate.upgrade(settings.database_url)
    return note


def _restart_schedules(settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            return schedules.restart_all(session, utcnow(), settings=settings,
                                         registry=default_registry())
    finally:
        engine.dispose()


@dataclass
class DevProcess:
    """A running ``fleet dev``: the app, its worker, the pickup thread, the periodic actors."""

    app: FleetApp
    worker: Worker  # runs: the run queue and the urgent queue
    system: Worker  # the periodic system jobs, on their own threads (as the Procfile splits them)
    periodic: list[Any] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    picked_up: int = 0
    _pickup: threading.Thread | None = None

    def describe(self) -> list[str]:
        """Lines saying what runs where."""
        s = self.app.settings
        broker = ("Redis " + redact_url(s.redis_url)) if s.redis_url else "in-memory (StubBroker)"
        lines = [
            f"runtime {self.app.runtime.runtime_id} (pid {self.app.runtime.pid})",
            f"broker: {broker}, queues '{s.queue_name}', '{s.urgent_queue_name}' (runs) and "
            f"'{s.system_queue_name}' (system jobs)",
            f"worker: {self.worker.worker_threads} threads for runs, "
            f"{self.system.worker_threads} for system jobs; heartbeat every "
            f"{s.heartbeat_interval_s:g}s, lease {s.lease_ttl_s:g}s",
            f"pickup: runs queued by other processes are sent every {s.dev_poll_interval_s:g}s",
        ]
        if self.periodic:
            lines.append(f"scheduler: periodiq loop with {len(self.periodic)} periodic actors:")
            lines += [f"  {a.actor_name}: {a.options['periodic']}" for a in self.periodic]
        else:
            lines.append("scheduler: no periodic actors")
        return lines

    def pickup_once(self) -> list[str]:
        """Send runs queued and not sent for a poll interval (submitted elsewhere, requeued)."""
        rt, s = self.app.runtime, self.app.settings

        def _due() -> list[str]:
            with rt.open_session() as session:
                due = run_store.resend_due(rt.clock(), unsent_after_s=s.dev_poll_interval_s,
                                           resend_after_s=s.dev_poll_interval_s)
                ids = run_store.unclaimed_since(session, due, 100)
                session.commit()
                return ids

        sent = rt.send_runs(with_retry(_due, attempts=3, what="dev pickup"), what="queued run")
        self.picked_up += len(sent.sent)
        return sent.sent

    def _pickup_loop(self) -> None:
        while not self.stop_event.wait(self.app.settings.dev_poll_interval_s):
            try:
                self.pickup_once()
            except Exception:
                log.exception("dev pickup failed; retrying")

    def start(self) -> None:
        """Start the worker threads and the pickup thread."""
        self.worker.start()
        self.system.start()
        self._pickup = threading.Thread(target=self._pickup_loop, name="fleet-dev-pickup",
                                        daemon=True)
        self._pickup.start()

    def stop(self, timeout_ms: int = 30_000) -> None:
        """Stop pickup, then the worker (which releases in-flight runs and goes offline)."""
        self.stop_event.set()
        if self._pickup is not None:
            self._pickup.join(5)
        self.worker.stop(timeout=timeout_ms)  # first: releases in-flight runs
        self.system.stop(timeout=timeout_ms)
        self.app.broker.close()
        self.app.runtime.close()


class _TwoWorkersFilter(logging.Filter):
    """Drops Dramatiq's warning that a second ``_WorkerMiddleware`` joined the broker.

    ``fleet dev`` runs two Workers on one broker (run threads and system threads, as the
    Procfile's two processes do); each adds its own ``_WorkerMiddleware``, which consumes
    only its Worker's queues, so the "may have unexpected results" line is noise here.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (str(record.msg).startswith("You're adding a middleware of the same type")
                    and "_WorkerMiddleware" in repr(record.args))


Declare = Callable[[FleetApp], dict[str, Any]]
"""Puts a set of actors on an application's broker (``actors.declare``, ``schedules.declare``)."""


def build(settings: Settings, *, declare_actors: Declare, declare_periodic: Declare,
          threads: int | None = None) -> DevProcess:
    """Build the app, declare the actors and the periodic jobs on it, build the worker."""
    app = build_app(settings, name="dev")
    declare_actors(app)
    periodic = list(declare_periodic(app).values())
    worker = Worker(app.broker, queues={settings.queue_name, settings.urgent_queue_name},
                    worker_threads=threads or settings.worker_threads)
    app.broker.logger.addFilter(_TwoWorkersFilter())
    system = Worker(app.broker, queues={settings.system_queue_name},
                    worker_threads=settings.system_threads)
    return DevProcess(app=app, worker=worker, system=system, periodic=periodic)


def run_scheduler_loop(dev: DevProcess, seconds: float | None,
                       echo: Callable[[str], None] = print) -> None:
    """Run periodiq's loop on the main thread until ``seconds`` pass or a signal arrives."""
    scheduler = Scheduler(actors=dev.periodic) if dev.periodic else None

    def _finish(*_: Any) -> None:
        dev.stop_event.set()
        if scheduler is not None:
            scheduler.alarm_q.put_nowait(False)

    previous = signal.signal(signal.SIGTERM, _finish)
    timer = threading.Timer(seconds, _finish) if seconds else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        if scheduler is None:
            while not dev.stop_event.wait(0.5):
                pass
        else:
            scheduler.schedule()
            scheduler.loop()
    except KeyboardInterrupt:
        echo("interrupted")
    finally:
        signal.alarm(0)  # periodiq's pending wake-up
        signal.signal(signal.SIGTERM, previous)
        if timer is not None:
            timer.cancel()


def run(settings: Settings, *, declare_actors: Declare, declare_periodic: Declare,
        seconds: float | None = None, threads: int | None = None,
        echo: Callable[[str], None] = print) -> DevProcess:
    """``fleet dev``: prepare the database, start everything, run until stopped."""
    echo(prepare_database(settings))
    dev = build(settings, declare_actors=declare_actors, declare_periodic=declare_periodic,
                threads=threads)
    dev.start()
    # Start-up jobs (search coverage) run once in the background: start-up does not wait.
    start_jobs(lambda: job_context(settings, broker=dev.app.broker,
                                   live=dev.app.runtime.liveness), dev.app.runtime.engine)
    for line in dev.describe():
        echo(line)
    echo("ready: submit runs from another terminal with `fleet runs submit GRAPH_ID`"
         + (f"; stopping after {seconds:g}s" if seconds else "; Ctrl-C stops"))
    started = time.monotonic()
    try:
        run_scheduler_loop(dev, seconds, echo)
    finally:
        dev.stop()
    echo(f"stopped after {time.monotonic() - started:.1f}s")
    return dev
