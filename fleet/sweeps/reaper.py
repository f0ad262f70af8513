"""The lease-reaper system job: reap expired leases, then re-send what was requeued."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from fleet.ports import JobContext, JobSpec
from fleet.runs import reaper
from fleet.runs.sending import send_and_record


def run_once(session: Session, now: datetime, ctx: JobContext) -> reaper.ReaperReport:
    """Reap expired leases and send the requeued runs again."""
    report = reaper.run_once(session, now, batch_size=ctx.settings.reaper_batch_size)
    send_and_record(session, report.requeued, now, ctx.send_run, what="requeued run")
    return report


SWEEP = JobSpec(
    name="reaper",
    description="requeue or fail running runs whose worker lease expired",
    cron_setting="cron_reaper",
    run_once=run_once,
)
