"""Re-send lost messages (SPEC §8): runs queued over ``resend_after_s`` with no claim.

A run row exists before its message is sent, so a message lost by the broker
(or never sent because the broker was down) is found here and sent again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.ports import JobContext, JobSpec, Report
from fleet.runs.sending import send_and_record
from fleet.store import runs as store


@dataclass
class ResendReport(Report):
    """What one re-send pass did."""

    sent: list[str] = field(default_factory=list)
    unsent: int = 0  # candidates left because the broker refused a send
    error: str | None = None

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (f"resend: sent {len(self.sent)}"
                + (f", {self.unsent} left for the next tick ({self.error})" if self.unsent else ""))


def cutoff(now: datetime, resend_after_s: float) -> datetime:
    """Runs queued (and last sent) strictly before this instant are re-sent."""
    return now - timedelta(seconds=resend_after_s)


def run_once(session: Session, now: datetime, ctx: JobContext) -> ResendReport:
    """Send again every queued run whose message may have been lost (one batch)."""
    s = ctx.settings
    ids = store.unclaimed_since(session, cutoff(now, s.resend_after_s), s.resend_batch)
    result = send_and_record(session, ids, now, ctx.send_run)
    return ResendReport(sent=result.sent, unsent=len(result.unsent), error=result.error)


SWEEP = JobSpec(
    name="resend",
    description="send again queued runs whose broker message may have been lost",
    cron_setting="cron_resend",
    run_once=run_once,
)
