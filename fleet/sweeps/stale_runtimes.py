"""Stale runtimes (SPEC §8): online runtimes not seen for ``stale_runtime_after_s`` go offline.

The database's ``last_seen_at`` lags by design (flushed at most every 60 s),
so a runtime whose liveness key is still alive is kept; when the liveness
store errors, the database decides for that tick. The UPDATE repeats the
staleness condition, so a heartbeat landing between read and write wins. The
running runs of a runtime marked offline are requeued (attempts left, and
re-sent) or failed at once, each with a run event.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.errors import RUN_RUNTIME_GONE
from fleet.ports import JobContext, JobSpec, Report
from fleet.runs import reaper
from fleet.runs.sending import send_and_record
from fleet.store import runs as run_store
from fleet.store import runtimes as rt_store
from fleet.store.db import begin_write

log = logging.getLogger(__name__)


@dataclass
class StaleRuntimesReport(Report):
    """What one stale-runtime pass changed."""

    offline: list[str] = field(default_factory=list)
    kept_alive: list[str] = field(default_factory=list)  # stale in the DB, alive per liveness
    liveness_error: str | None = None
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (f"stale_runtimes: offline {len(self.offline)}, kept alive "
                f"{len(self.kept_alive)}, requeued {len(self.requeued)}, failed "
                f"{len(self.failed)}" + (f" (liveness error: {self.liveness_error}; the "
                                         "database decided)" if self.liveness_error else ""))


def stale_before(now: datetime, stale_after_s: float) -> datetime:
    """Runtimes last seen strictly before this instant are stale."""
    return now - timedelta(seconds=stale_after_s)


def decide(candidates: Sequence[str], alive: Mapping[str, bool] | None) -> list[str]:
    """The stale runtimes to mark offline: all of them, minus those liveness says are alive.

    ``alive=None`` means the liveness store was unavailable: trust the database.
    """
    if alive is None:
        return list(candidates)
    return [r for r in candidates if not alive.get(r, False)]


def release_runs(session: Session, runtime_ids: Sequence[str], now: datetime,
                 ) -> tuple[list[str], list[str]]:
    """Requeue (attempts left) or fail the running runs held by ``runtime_ids``.

    The holder and the attempts condition are repeated in each UPDATE, as the
    reaper does. Returns ``(requeued, failed)``. Does not commit.
    """
    ids = [run_id for rt in runtime_ids for run_id, _ in run_store.held_by_runtime(session, rt)]
    if not ids:
        return [], []
    return reaper.requeue_or_fail(
        session, now, requeue_ids=ids, fail_ids=ids, still=run_store.held_by(runtime_ids),
        reason="runtime went offline (stale heartbeat)", error_code=RUN_RUNTIME_GONE,
        error_detail="the runtime executing this run stopped heartbeating and the run has "
                     "used all its attempts",
    )


def run_once(session: Session, now: datetime, ctx: JobContext) -> StaleRuntimesReport:
    """Mark stale runtimes offline and release their runs; re-send the requeued ones."""
    s = ctx.settings
    report = StaleRuntimesReport()
    before = stale_before(now, s.stale_runtime_after_s)
    for _ in range(s.sweep_max_batches):
        begin_write(session, "stale_runtimes")
        candidates = [r.id for r in rt_store.stale(session, before, s.stale_runtime_batch)]
        if not candidates:
            session.rollback()
            break
        alive: Mapping[str, bool] | None = None
        if ctx.liveness is not None:
            try:
                alive = ctx.liveness.alive(candidates)
            except Exception as exc:  # Redis down: the database decides this tick
                report.liveness_error = f"{type(exc).__name__}: {exc}"
                log.warning("liveness store unavailable (%s); trusting the database this tick",
                            report.liveness_error)
        to_mark = decide(candidates, alive)
        report.kept_alive += [r for r in candidates if r not in to_mark]
        offline = rt_store.mark_offline(session, to_mark, now, stale_before=before)
        requeued, failed = release_runs(session, offline, now)
        session.commit()
        report.offline += offline
        report.requeued += requeued
        report.failed += failed
        if len(candidates) < s.stale_runtime_batch or not offline:
            break
    if report.offline:
        log.warning("runtimes marked offline: %s", ", ".join(report.offline))
    report.sent = send_and_record(session, report.requeued, now, ctx.send_run).sent
    return report


SWEEP = JobSpec(
    name="stale_runtimes",
    description="mark runtimes with a stale heartbeat offline and release their runs",
    cron_setting="cron_stale_runtimes",
    run_once=run_once,
)
