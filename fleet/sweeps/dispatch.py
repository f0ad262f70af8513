"""The dispatcher system job: fire due user schedules (:mod:`fleet.scheduling.dispatcher`)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from fleet.ports import JobContext, JobSpec
from fleet.scheduling import dispatcher


def run_once(session: Session, now: datetime, ctx: JobContext) -> dispatcher.DispatchReport:
    """One dispatcher pass with the default block registry."""
    return dispatcher.run_once(session, now, ctx)


SWEEP = JobSpec(
    name="dispatch",
    description="fire due user schedules: create their runs once each and send them",
    cron_setting="cron_dispatch",
    run_once=run_once,
)
