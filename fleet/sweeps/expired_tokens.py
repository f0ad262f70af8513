"""Expired tokens (SPEC §8, §13): credentials (and API tokens) past their expiry are deleted.

The job runs a list of *expirers*, each ``(kind, delete_expired(session, now,
limit) -> int)``, in committed batches, and reports the counts by kind. The
vault gives one per credential kind (an OAuth2 credential goes only when it
cannot be refreshed); API tokens (SPEC §12) are one more kind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from fleet.ports import JobContext, JobSpec, Report
from fleet.store import tokens
from fleet.sweeps.batches import in_batches
from fleet.vault.expiry import DeleteExpired, Expirer, credential_expirers

# Every expirer the job runs.
EXPIRERS: tuple[Expirer, ...] = (*credential_expirers(), ("api_token", tokens.delete_expired))


@dataclass
class ExpiredTokensReport(Report):
    """How many expired tokens and credentials were deleted, by kind."""

    deleted: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    more: bool = False

    def summary(self) -> str:
        """One line for logs and the CLI."""
        counts = ", ".join(f"{k} {n}" for k, n in self.deleted.items()) or "nothing"
        return f"expired_tokens: deleted {counts}" + (" (more pending)" if self.more else "")


def _counting(delete_expired: DeleteExpired, session: Session, now: datetime, limit: int,
              counted: list[int]) -> Callable[[], int]:
    def step() -> int:
        n = delete_expired(session, now, limit)
        counted[0] += n
        return n
    return step


def run_expirers(session: Session, now: datetime, ctx: JobContext,
                 expirers: Sequence[Expirer]) -> ExpiredTokensReport:
    """Run each expirer in committed batches until it finds fewer than a batch."""
    report = ExpiredTokensReport()
    size = ctx.settings.token_expiry_batch
    if session.in_transaction():
        session.commit()
    for kind, delete_expired in expirers:
        counted = [0]
        done = in_batches(session, f"expired {kind}",
                          _counting(delete_expired, session, now, size, counted),
                          batch_size=size, max_batches=ctx.settings.sweep_max_batches)
        report.deleted[kind] = counted[0]
        report.batches += done.batches
        report.more = report.more or done.more
    return report


def run_once(session: Session, now: datetime, ctx: JobContext) -> ExpiredTokensReport:
    """The job: every expirer of :data:`EXPIRERS`."""
    return run_expirers(session, now, ctx, EXPIRERS)


SWEEP = JobSpec(
    name="expired_tokens",
    description="delete credentials (and API tokens) past their expiry; OAuth2 credentials "
                "only when they cannot be refreshed",
    cron_setting="cron_expired_tokens",
    run_once=run_once,
)
