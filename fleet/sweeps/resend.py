"""Re-send lost messages (SPEC §8): runs queued over ``resend_after_s`` with no claim.

A run row exists before its message is sent, so a message lost by the broker
(or never sent because the broker was down) is found here and sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.store import runs as store
from fleet.store.db import begin_write
from fleet.sweeps.base import Report, RunSender, SweepContext, SweepSpec

log = logging.getLogger(__name__)


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


def send_all(session: Session, run_ids: Sequence[str], now: datetime,
             send: RunSender) -> tuple[list[str], str | None]:
    """Send ``run_ids`` in order, stopping at the first broker error; marks the sent ones.

    Commits anything pending first; returns the ids sent and the error that
    stopped it (None when all went). The caller commits the marks.
    """
    sent: list[str] = []
    error: str | None = None
    if session.in_transaction():
        session.commit()  # hold no transaction (no SQLite lock) while talking to the broker
    for run_id in run_ids:
        try:
            send(run_id)
        except Exception as exc:  # the broker is down: keep the rest for the next tick
            error = f"{type(exc).__name__}: {exc}"
            log.warning("could not send run %s (%s); will retry next tick", run_id, error)
            break
        sent.append(run_id)
    if sent:
        begin_write(session, "mark sent")
        store.mark_sent(session, sent, now)
    return sent, error


def run_once(session: Session, now: datetime, ctx: SweepContext) -> ResendReport:
    """Send again every queued run whose message may have been lost (one batch)."""
    s = ctx.settings
    ids = store.unclaimed_since(session, cutoff(now, s.resend_after_s), s.resend_batch)
    sent, error = send_all(session, ids, now, ctx.send_run)
    session.commit()
    return ResendReport(sent=sent, unsent=len(ids) - len(sent), error=error)


SWEEP = SweepSpec(
    name="resend",
    description="send again queued runs whose broker message may have been lost",
    cron_setting="cron_resend",
    run_once=run_once,
)
