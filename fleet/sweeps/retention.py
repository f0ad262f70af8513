"""Retention (SPEC §8): finished runs older than ``retention_days`` are pruned.

Each batch deletes up to ``retention_batch`` runs together with their node
runs and events, and commits; resolved alerts and notices older than the
same horizon go too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.ports import JobContext, JobSpec, Report
from fleet.store import alerts as alert_store
from fleet.store import retention as store
from fleet.store.db import begin_write


@dataclass
class RetentionReport(Report):
    """What one retention pass deleted."""

    runs: int = 0
    node_runs: int = 0
    events: int = 0
    alerts: int = 0
    more: bool = False

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (f"retention: deleted {self.runs} runs, {self.node_runs} node runs, "
                f"{self.events} events, {self.alerts} alerts"
                + (" (more pending)" if self.more else ""))


def cutoff(now: datetime, days: int) -> datetime:
    """Finished runs completed strictly before this instant are pruned."""
    return now - timedelta(days=days)


def run_once(session: Session, now: datetime, ctx: JobContext) -> RetentionReport:
    """Prune old finished runs in batches, committing each."""
    s = ctx.settings
    before = cutoff(now, s.retention_days)
    report = RetentionReport()
    for _ in range(s.sweep_max_batches):
        begin_write(session, "retention")
        ids = store.finished_before(session, before, s.retention_batch)
        runs, nodes, events = store.delete_runs(session, ids, before)
        session.commit()
        report.runs += runs
        report.node_runs += nodes
        report.events += events
        if len(ids) < s.retention_batch:
            break
    else:
        report.more = True
    begin_write(session, "retention (alerts)")
    report.alerts = alert_store.prune(session, before, s.retention_batch)
    session.commit()
    return report


SWEEP = JobSpec(
    name="retention",
    description="prune finished runs, node runs and events older than retention_days",
    cron_setting="cron_retention",
    run_once=run_once,
)
