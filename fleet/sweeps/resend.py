"""Re-send lost messages (SPEC §8): queued runs whose message may be lost.

A run row exists before its message is sent, so a message lost by the broker
is found here and sent again: a run never sent (the broker was down when it
was created) after ``resend_unsent_after_s``, so it goes within a tick of the
broker's return; a run sent and not claimed after ``resend_after_s``, then
after twice that, four times... (up to 16x): a backlog that merely waits is not
flooded with duplicate messages every interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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


def run_once(session: Session, now: datetime, ctx: JobContext) -> ResendReport:
    """Send again every queued run whose message may have been lost (one batch)."""
    s = ctx.settings
    due = store.resend_due(now, unsent_after_s=s.resend_unsent_after_s,
                           resend_after_s=s.resend_after_s)
    ids = store.unclaimed_since(session, due, s.resend_batch)
    result = send_and_record(session, ids, now, ctx.send_run, send_many=ctx.send_many)
    return ResendReport(sent=result.sent, unsent=len(result.unsent), error=result.error)


SWEEP = JobSpec(
    name="resend",
    description="send again queued runs whose broker message may have been lost",
    cron_setting="cron_resend",
    run_once=run_once,
)
