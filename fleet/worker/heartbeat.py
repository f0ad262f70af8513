"""Middleware: ONE heartbeat thread per worker process.

Each tick (every ``heartbeat_interval_s``):

1. beats the runtime's liveness key in Redis (TTL ``liveness_key_ttl_s``);
2. flushes ``last_seen_at`` to the database at most every
   ``runtime_flush_interval_s`` (every tick when Redis is absent or failing);
3. extends every lease the process holds in one batched UPDATE; a lease that
   is gone stops its execution (``lease_lost``), a cancel request stops it
   with ``cancelled``;
4. runs one batch of the lease reaper and re-sends what it requeued on the
   urgent queue (with the runs the dead worker had fetched but not started),
   so a crashed worker's runs come back within a lease TTL plus one tick,
   ahead of any backlog;
5. once a minute, checks that a dispatcher run started within
   ``scheduler_silence_s`` and raises (or resolves) the deduplicated ops alert
   ``scheduler_silent``.

Between ticks the thread also wakes when the earliest lease in the fleet is
due to expire and runs the reaper alone: a lease that its holder stopped
renewing is taken back within moments of its expiry, not up to a whole tick
later (live leases are renewed long before they are due, so this costs
nothing while every worker is healthy).

Every step survives errors: a database blip is retried with backoff, and
whatever still fails is logged and tried again next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dramatiq import Broker, Middleware

from fleet.runs import leases, reaper
from fleet.store import jobs as jobs_store
from fleet.store import runs as run_store
from fleet.store import runtimes as runtime_store
from fleet.store.db import with_retry
from fleet.worker.outage import OutageLog
from fleet.worker.process import WorkerRuntime
from fleet.worker.registration import register

log = logging.getLogger(__name__)

EXPIRY_SLACK_S = 0.1  # wake this long after a lease is due, so that it has expired
WATCH_EVERY_S = 60.0  # how often each worker looks at the dispatcher's last run (at most)
SCHEDULER_SILENT = "scheduler_silent"


def result_next_expiry(rt: WorkerRuntime) -> datetime | None:
    """The earliest lease expiry in the fleet (None when no run is running or on error)."""
    try:
        with rt.open_session() as session:
            return run_store.next_lease_expiry(session)
    except Exception as exc:
        log.debug("could not read the next lease expiry (%s)", exc.__class__.__name__)
        return None


@dataclass
class TickReport:
    """What one heartbeat tick did (for tests and debug logs)."""

    beat: bool = False
    flushed: bool = False
    extended: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    reaped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    prefetched: list[str] = field(default_factory=list)  # fetched by a dead runtime, re-sent
    scheduler_silent: bool = False
    errors: list[str] = field(default_factory=list)


class Heartbeat:
    """The heartbeat of one process; :meth:`tick` is one beat, :meth:`start` the thread."""

    def __init__(self, rt: WorkerRuntime, *, retry_attempts: int = 4) -> None:
        self.rt = rt
        self.retry_attempts = retry_attempts
        self.outages = OutageLog(log)
        self.booted_at: datetime | None = None
        self._last_watch: datetime | None = None
        self._last_flush: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.next_expiry: datetime | None = None

    # --- one tick ------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> TickReport:
        """Run one heartbeat at ``now`` (default: the runtime's clock)."""
        rt, s = self.rt, self.rt.settings
        report = TickReport()
        if now is None:  # a real tick: measure the database clock again (tests pass ``now``)
            self._step("clock sync", report, self._sync_clock)
        now = now or rt.lease_now()
        if rt.registration_pending:
            # Registration failed at boot (database unreachable): try again now.
            self._step("registration", report, self._register)
        redis_ok = False
        live = rt.liveness
        if live is not None:
            try:
                live.beat(rt.runtime_id, s.liveness_key_ttl_s)
                redis_ok = report.beat = True
                self.outages.ok("liveness beat")
            except Exception as exc:
                report.errors.append(f"liveness: {exc.__class__.__name__}")
                self.outages.failed("liveness beat", exc, "flushing to the database instead")
        due = (self._last_flush is None
               or (now - self._last_flush).total_seconds() >= s.runtime_flush_interval_s)
        if (not redis_ok or due) and self._step("runtime flush", report,
                                                  lambda: self._flush(now)):
            self._last_flush = now
            report.flushed = True
        self._step("lease heartbeat", report, lambda: self._extend(now, report))
        self._step("heartbeat reaper", report, lambda: self._reap(now, report))
        self._step("scheduler watch", report, lambda: self._watch_scheduler(now, report))
        return report

    def _register(self) -> None:
        register(self.rt)
        self.rt.registration_pending = False

    def _sync_clock(self) -> None:
        self.rt.sync_clock()

    def _step(self, what: str, report: TickReport, fn: Callable[[], None]) -> bool:
        """Run one step of the tick; a failure is reported and logged once per outage."""
        try:
            fn()
        except Exception as exc:
            report.errors.append(f"{what}: {exc.__class__.__name__}")
            self.outages.failed(what, exc, "retrying next tick")
            return False
        self.outages.ok(what)
        return True

    def _watch_scheduler(self, now: datetime, report: TickReport) -> None:
        """Alert (deduplicated across workers) when no dispatcher run started for too long."""
        rt, s = self.rt, self.rt.settings
        if rt.alerts is None or (self._last_watch is not None and
                                 (now - self._last_watch).total_seconds()
                                 < min(WATCH_EVERY_S, s.scheduler_silence_s / 4)):
            return
        self._last_watch = now
        with rt.open_session() as session:
            job = jobs_store.get(session, "dispatch")
            last = job.last_started_at if job is not None else None
            since = last or self.booted_at or now
            silent_s = (now - since).total_seconds()
            if silent_s > s.scheduler_silence_s:
                report.scheduler_silent = True
                rt.alerts.fire(
                    session, now, kind=SCHEDULER_SILENT, fingerprint="dispatch", tag="ops",
                    message=(f"No scheduler has run since {since.isoformat()} "
                             f"({silent_s:.0f}s): no schedule fires and no sweep runs. Check "
                             "the `scheduler` and `system` processes of the Procfile "
                             "(`fleet sweep --list` shows each job's last run)."))
            elif last is not None:
                rt.alerts.resolve(session, now, kind=SCHEDULER_SILENT, fingerprint="dispatch",
                                  message=f"The scheduler runs again (dispatcher started at "
                                          f"{last.isoformat()}).")
            session.commit()

    def _flush(self, now: datetime) -> None:
        def _touch() -> None:
            with self.rt.open_session() as session:
                runtime_store.touch(session, self.rt.runtime_id, now)
                session.commit()

        with_retry(_touch, attempts=self.retry_attempts, what="runtime flush")

    def _extend(self, now: datetime, report: TickReport) -> None:
        held = self.rt.held()
        if not held:
            return
        lease_ids = [h.lease.lease_id for h in held]
        run_ids = [h.lease.run_id for h in held]

        def _beat() -> leases.HeartbeatResult:
            with self.rt.open_session() as session:
                return leases.heartbeat(session, self.rt.runtime_id, lease_ids, now,
                                        ttl_s=self.rt.settings.lease_ttl_s, run_ids=run_ids)

        result = with_retry(_beat, attempts=self.retry_attempts, what="lease heartbeat")
        report.extended = result.held
        report.lost = result.lost
        for lease_id in result.lost:
            stop = self.rt.stop_for(lease_id)
            if stop is not None:
                log.warning("lease %s lost; stopping its execution", lease_id)
                stop.request("lease_lost")
        by_run = {h.lease.run_id: h for h in held}
        for run_id in result.cancel_requested:
            h = by_run.get(run_id)
            if h is not None and h.stop.reason() is None:
                log.info("run %s: cancel requested; stopping at the next node", run_id)
                h.stop.request("cancelled")
                report.cancelled.append(run_id)

    def _reap(self, now: datetime, report: TickReport) -> None:
        def _run() -> reaper.ReaperReport:
            with self.rt.open_session() as session:
                return reaper.run_once(session, now,
                                       batch_size=self.rt.settings.reaper_batch_size,
                                       max_batches=1)

        result = with_retry(_run, attempts=self.retry_attempts, what="heartbeat reaper")
        self.next_expiry = result_next_expiry(self.rt)
        report.reaped = result.requeued
        report.failed = result.failed
        if result.requeued or result.failed:
            log.info("heartbeat reaper: %s", result.summary())
        # Ahead of the backlog: these runs already waited a lease TTL.
        self.rt.send_runs(result.requeued, what="requeued run", urgent=True)
        if result.holders and self.rt.find_prefetched is not None:
            try:
                report.prefetched = self.rt.find_prefetched(result.holders, result.requeued)
            except Exception as exc:  # Redis trouble: the re-send sweep covers them later
                log.warning("could not read the dead runtimes' fetched messages (%s)",
                            type(exc).__name__)
            self.rt.send_runs(report.prefetched, what="prefetched run", urgent=True)

    # --- the thread ----------------------------------------------------------

    def start(self) -> None:
        """Start the heartbeat thread (once)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self.booted_at = self.booted_at or self.rt.clock()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="fleet-heartbeat", daemon=True)
        self._thread.start()

    def reap_only(self, now: datetime | None = None) -> TickReport:
        """Just the reaper step (the wake-up at a lease's expiry)."""
        report = TickReport()
        self._step("heartbeat reaper", report,
                   lambda: self._reap(now or self.rt.lease_now(), report))
        return report

    def _loop(self) -> None:
        interval = self.rt.settings.heartbeat_interval_s
        next_full = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_full:
                    next_full = time.monotonic() + interval
                    self.tick()
                else:
                    self.reap_only()
            except Exception:  # never let the heartbeat thread die
                log.exception("heartbeat tick failed")
            wait = next_full - time.monotonic()
            if self.next_expiry is not None:
                until_expiry = (self.next_expiry - self.rt.lease_now()).total_seconds()
                wait = min(wait, max(until_expiry + EXPIRY_SLACK_S, EXPIRY_SLACK_S))
            self._stop.wait(max(wait, 0.0))

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread and wait for it (bounded)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()


class HeartbeatMiddleware(Middleware):
    """Starts the process's heartbeat thread when its worker has booted; stops it at shutdown."""

    def __init__(self, rt: WorkerRuntime, heartbeat: Heartbeat | None = None) -> None:
        self.rt = rt
        self.heartbeat = heartbeat or Heartbeat(rt)

    def after_worker_boot(self, broker: Broker, worker: Any) -> None:
        self.heartbeat.start()

    def after_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        self.heartbeat.stop()
