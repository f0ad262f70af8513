"""Runtime GC (SPEC §8): runtimes offline longer than ``runtime_gc_after_s`` are deleted.

In batches of ``runtime_gc_batch``; runs keep their ``runtime_id`` (history stays).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.ports import JobContext, JobSpec, Report
from fleet.store import runtimes as rt_store
from fleet.sweeps.batches import in_batches


@dataclass
class RuntimeGcReport(Report):
    """What one GC pass deleted."""

    deleted: int = 0
    batches: int = 0
    more: bool = False

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return f"runtime_gc: deleted {self.deleted} in {self.batches} batch(es)" + (
            " (more pending)" if self.more else "")


def cutoff(now: datetime, after_s: float) -> datetime:
    """Runtimes offline since strictly before this instant are deleted."""
    return now - timedelta(seconds=after_s)


def run_once(session: Session, now: datetime, ctx: JobContext) -> RuntimeGcReport:
    """Delete long-offline runtimes batch by batch, committing each."""
    s = ctx.settings
    before = cutoff(now, s.runtime_gc_after_s)
    report = RuntimeGcReport()

    def step() -> int:
        ids = rt_store.offline_before(session, before, s.runtime_gc_batch)
        report.deleted += rt_store.delete_ids(session, ids)
        return len(ids)

    done = in_batches(session, "runtime_gc", step, batch_size=s.runtime_gc_batch,
                      max_batches=s.sweep_max_batches)
    report.batches, report.more = done.batches, done.more
    return report


SWEEP = JobSpec(
    name="runtime_gc",
    description="delete runtimes offline for longer than runtime_gc_after_s",
    cron_setting="cron_runtime_gc",
    run_once=run_once,
)
