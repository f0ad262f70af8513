"""The overview: the health of the fleet at a glance, from one bounded set of queries.

Runs per minute, failure rate and p95 run time come from the latest finished runs (at
most :data:`SAMPLE` of them, over at most the last hour), so the cost does not grow with
history. Late runs are counted up to a cap. The web process takes one snapshot and
shares it with every viewer (see :mod:`fleet.web.snapshot`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from fleet.engine.tracker import percentile
from fleet.settings import Settings
from fleet.store import observe
from fleet.store.models import ACTIVE_STATES

SAMPLE = 10_000
LATE_CAP = 10_000
RATE_WINDOW_S = 300.0
STATS_WINDOW_S = 3600.0
FAILED = frozenset({"failed", "timeout"})


@dataclass
class JobStatus:
    """A system job's last run, from the ``system_jobs`` table."""

    name: str
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_outcome: str | None = None
    last_duration_s: float | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_report: dict[str, Any] | None = None
    runs_total: int = 0
    errors_total: int = 0


@dataclass
class WorkerLoad:
    """An online worker process and the runs it holds."""

    id: str
    hostname: str
    pid: int
    name: str
    concurrency: int
    held: int
    last_seen_at: datetime


@dataclass
class FiringAlert:
    """A firing incident."""

    id: str
    kind: str
    tag: str
    user_id: str | None
    message: str
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass
class Overview:
    """One snapshot of the fleet."""

    taken_at: datetime
    active: dict[str, int]
    queue_depth: int
    queue_lag_s: float | None
    runs_per_minute: float
    finished_last_hour: int
    failure_rate: float | None
    p95_run_s: float | None
    late_queued: int
    late_running: int
    runtimes: dict[str, int]
    workers: list[WorkerLoad] = field(default_factory=list)
    jobs: list[JobStatus] = field(default_factory=list)
    firing: list[FiringAlert] = field(default_factory=list)

    @property
    def late_capped(self) -> bool:
        """Whether either late count reached the cap."""
        return self.late_queued > LATE_CAP or self.late_running > LATE_CAP

    def job(self, name: str) -> JobStatus | None:
        """The status of one system job, if it ever ran."""
        return next((j for j in self.jobs if j.name == name), None)


def _rates(rows: list[tuple[str, float | None, datetime]], now: datetime
           ) -> tuple[float, int, float | None, float | None]:
    recent = [r for r in rows if (now - r[2]).total_seconds() <= STATS_WINDOW_S]
    in_rate = [r for r in recent if (now - r[2]).total_seconds() <= RATE_WINDOW_S]
    if len(rows) >= SAMPLE and in_rate and len(in_rate) == len(rows):
        # The sample ran out inside the window: rate over the time it covers.
        span = max(1.0, (now - rows[-1][2]).total_seconds())
        per_minute = len(rows) / span * 60
    else:
        per_minute = len(in_rate) / (RATE_WINDOW_S / 60)
    failure = (sum(1 for r in recent if r[0] in FAILED) / len(recent)) if recent else None
    times = sorted(r[1] for r in recent if r[1] is not None)
    return per_minute, len(recent), failure, (percentile(times, 0.95) if times else None)


def take(session: Session, now: datetime, settings: Settings, *,
         worker_limit: int = 50, alert_limit: int = 20) -> Overview:
    """A snapshot of the fleet at ``now``."""
    active = {s.value: 0 for s in ACTIVE_STATES} | observe.active_counts(session)
    oldest = observe.oldest_queued_at(session)
    per_minute, finished, failure, p95 = _rates(observe.recent_finished(session, SAMPLE), now)
    late_queued = observe.count_capped(
        session, "queued", "queued_at", now - timedelta(seconds=settings.late_queued_after_s),
        LATE_CAP, since=now - timedelta(seconds=settings.late_lookback_s))
    late_running = observe.count_capped(
        session, "running", "started_at",
        now - timedelta(seconds=settings.late_running_after_s), LATE_CAP)
    online = observe.runtimes(session, status="online", limit=worker_limit)
    held = observe.held_counts(session, [r.id for r in online])
    overview = Overview(
        taken_at=now, active=active, queue_depth=active.get("queued", 0),
        queue_lag_s=max(0.0, (now - oldest).total_seconds()) if oldest else None,
        runs_per_minute=per_minute, finished_last_hour=finished, failure_rate=failure,
        p95_run_s=p95, late_queued=late_queued, late_running=late_running,
        runtimes=observe.runtime_counts(session),
        workers=[WorkerLoad(r.id, r.hostname, r.pid, r.name, r.concurrency, held.get(r.id, 0),
                            r.last_seen_at) for r in online],
        jobs=[JobStatus(j.name, j.last_started_at, j.last_finished_at, j.last_outcome,
                        j.last_duration_s, j.last_success_at, j.last_error, j.last_report,
                        j.runs_total, j.errors_total) for j in observe.system_jobs(session)],
        firing=[FiringAlert(a.id, a.kind, a.tag, a.user_id, a.message, a.first_seen_at,
                            a.last_seen_at)
                for a in observe.firing_alerts(session, alert_limit)])
    session.commit()
    return overview
