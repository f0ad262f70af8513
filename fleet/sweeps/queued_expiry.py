"""Queued expiry (SPEC §8): runs queued longer than ``queued_expiry_s`` fail.

At most ``queued_expiry_batch`` runs a tick; ``queued_expiry_s = 0`` disables it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.errors import RUN_QUEUED_EXPIRED
from fleet.ports import JobContext, JobSpec, Report
from fleet.runs import fsm
from fleet.store import runs as run_store
from fleet.store.db import begin_write
from fleet.store.models import RunState


@dataclass
class QueuedExpiryReport(Report):
    """What one queued-expiry pass changed."""

    expired: list[str] = field(default_factory=list)
    disabled: bool = False
    more: bool = False  # the batch was full

    def summary(self) -> str:
        """One line for logs and the CLI."""
        if self.disabled:
            return "queued_expiry: disabled (queued_expiry_s = 0)"
        return f"queued_expiry: failed {len(self.expired)}" + (" (more pending)" if self.more
                                                                else "")


def cutoff(now: datetime, expiry_s: float) -> datetime | None:
    """Runs queued strictly before this instant expire; None when expiry is disabled."""
    if expiry_s <= 0:
        return None
    return now - timedelta(seconds=expiry_s)


def run_once(session: Session, now: datetime, ctx: JobContext) -> QueuedExpiryReport:
    """Fail the oldest over-age queued runs, one batch."""
    s = ctx.settings
    before = cutoff(now, s.queued_expiry_s)
    if before is None:
        return QueuedExpiryReport(disabled=True)
    begin_write(session, "queued_expiry")
    ids = run_store.queued_before(session, before, s.queued_expiry_batch)
    expired = fsm.transition_many(
        session, ids, [RunState.QUEUED], RunState.FAILED, now,
        extra=[run_store.queued_since_before(before)], detail="queued too long; expired",
        error_code=RUN_QUEUED_EXPIRED,
        error_detail=f"the run waited in the queue for more than {s.queued_expiry_s:g} s "
                     "without a worker claiming it",
    )
    session.commit()
    return QueuedExpiryReport(expired=expired, more=len(ids) >= s.queued_expiry_batch)


SWEEP = JobSpec(
    name="queued_expiry",
    description="fail runs that stayed queued longer than queued_expiry_s",
    cron_setting="cron_queued_expiry",
    run_once=run_once,
)
