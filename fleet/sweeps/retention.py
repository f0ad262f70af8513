"""Retention (SPEC §8): old history is pruned in batches until none is left.

Four kinds of rows, each with its own horizon: finished runs with their node
runs and events (``retention_days``), run events on their own
(``event_retention_days``, which also trims long-lived runs), schedule fire
records (``fire_retention_days``), and resolved alerts and notices
(``retention_days``). Each kind is deleted batch by batch, one committed
transaction each, while there is work, within one time budget for the whole
pass (``retention_budget_s``); what the budget leaves is reported as ``more``
and the next tick (hourly by default) carries on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.ports import JobContext, JobSpec, Report
from fleet.store import alerts as alert_store
from fleet.store import retention as store
from fleet.sweeps.batches import in_batches

_MAX_BATCHES = 1_000_000  # the time budget, not a batch count, bounds a pass


@dataclass
class RetentionReport(Report):
    """What one retention pass deleted."""

    runs: int = 0
    node_runs: int = 0
    events: int = 0
    fires: int = 0
    alerts: int = 0
    batches: int = 0
    seconds: float = 0.0
    more: bool = False

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (f"retention: deleted {self.runs} runs, {self.node_runs} node runs, "
                f"{self.events} events, {self.fires} schedule fires, {self.alerts} alerts "
                f"in {self.batches} batches, {self.seconds:.1f}s"
                + (" (more pending: the time budget ran out)" if self.more else ""))


def cutoff(now: datetime, days: float) -> datetime:
    """Rows older than strictly this instant are pruned."""
    return now - timedelta(days=days)


def run_once(session: Session, now: datetime, ctx: JobContext, *,
             clock: Callable[[], float] = time.monotonic) -> RetentionReport:
    """Prune every kind of old row in batches while there is work, within the time budget."""
    s = ctx.settings
    report = RetentionReport()
    started = clock()
    runs_before = cutoff(now, s.retention_days)

    def runs_step() -> int:
        ids = store.finished_before(session, runs_before, s.retention_batch)
        runs, nodes, events = store.delete_runs(session, ids, runs_before)
        report.runs += runs
        report.node_runs += nodes
        report.events += events
        return len(ids)

    def counting(delete: Callable[[], int], field: str) -> Callable[[], int]:
        def step() -> int:
            n = delete()
            setattr(report, field, getattr(report, field) + n)
            return n
        return step

    stages: list[tuple[str, Callable[[], int]]] = [
        ("retention (runs)", runs_step),
        ("retention (events)", counting(lambda: store.delete_events_before(
            session, cutoff(now, s.event_retention_days), s.retention_batch), "events")),
        ("retention (schedule fires)", counting(lambda: store.delete_fires_before(
            session, cutoff(now, s.fire_retention_days), s.retention_batch), "fires")),
        ("retention (alerts)", counting(lambda: alert_store.prune(
            session, runs_before, s.retention_batch), "alerts")),
    ]
    for what, step in stages:
        left = s.retention_budget_s - (clock() - started)
        if left <= 0:
            report.more = True
            break
        done = in_batches(session, what, step, batch_size=s.retention_batch,
                          max_batches=_MAX_BATCHES, budget_s=left, clock=clock)
        report.batches += done.batches
        report.more = report.more or done.more
    report.seconds = clock() - started
    return report


SWEEP = JobSpec(
    name="retention",
    description="prune old finished runs (with node runs and events), events, schedule fires "
                "and resolved alerts, in batches within a time budget",
    cron_setting="cron_retention",
    run_once=run_once,
)
