"""The lease reaper (SPEC §5): expired leases go back to queued, or fail.

``decide`` is the pure rule; ``run_once`` applies it in batches, repeating the
expiry condition inside each UPDATE so a heartbeat that lands between the
select and the update keeps its run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement
from sqlmodel import Session

from fleet.errors import RUN_LEASE_EXPIRED
from fleet.ports import Report
from fleet.runs import fsm
from fleet.store import runs as store
from fleet.store.db import begin_write
from fleet.store.models import RunState


class Decision(StrEnum):
    """What the reaper does with one run."""

    KEEP = "keep"
    REQUEUE = "requeue"
    FAIL = "fail"


@dataclass
class ReaperReport(Report):
    """What one reaper pass changed."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    holders: list[str] = field(default_factory=list)  # runtimes whose leases expired
    examined: int = 0
    more: bool = False  # a batch came back full: more may be waiting

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (f"reaper: examined {self.examined}, requeued {len(self.requeued)}, "
                f"failed {len(self.failed)}" + (" (more pending)" if self.more else ""))


def decide(row: store.LeaseRow, now: datetime) -> Decision:
    """The reaper's rule for one running run."""
    if row.lease_until is None or row.lease_until >= now:
        return Decision.KEEP
    if row.attempt_count < row.max_attempts:
        return Decision.REQUEUE
    return Decision.FAIL


def requeue_or_fail(session: Session, now: datetime, *, requeue_ids: Sequence[str],
                    fail_ids: Sequence[str], still: ColumnElement[bool], reason: str,
                    error_code: str, error_detail: str) -> tuple[list[str], list[str]]:
    """Put running runs whose holder is gone back to queued, or fail those out of attempts.

    ``still`` repeats why the caller decided (lease expired, runtime offline)
    inside each UPDATE, together with the attempts condition, so a run that
    changed meanwhile is left alone. Returns ``(requeued, failed)``; does not commit.
    """
    requeued = fsm.transition_many(
        session, requeue_ids, [RunState.RUNNING], RunState.QUEUED, now,
        extra=[still, store.attempts_left(True)], detail=f"{reason}; requeued",
    )
    failed = fsm.transition_many(
        session, fail_ids, [RunState.RUNNING], RunState.FAILED, now,
        extra=[still, store.attempts_left(False)],
        detail=f"{reason}; no attempts left", error_code=error_code, error_detail=error_detail,
        cost=store.node_cost_sum(),  # what the lost segments' node runs cost
    )
    return requeued, failed


def run_once(session: Session, now: datetime, *, batch_size: int = 100,
             max_batches: int = 10) -> ReaperReport:
    """Reap expired leases, at most ``batch_size * max_batches`` runs. Commits per batch.

    The caller re-sends ``report.requeued`` with :func:`fleet.runs.sending.send_and_record`.
    """
    report = ReaperReport()
    for _ in range(max_batches):
        begin_write(session, "reaper")
        rows = store.expired_leases(session, now, batch_size)
        report.examined += len(rows)
        by_decision: dict[Decision, list[str]] = {Decision.REQUEUE: [], Decision.FAIL: []}
        for row in rows:
            d = decide(row, now)
            if d is not Decision.KEEP:
                by_decision[d].append(row.id)
        requeued, failed = requeue_or_fail(
            session, now, requeue_ids=by_decision[Decision.REQUEUE],
            fail_ids=by_decision[Decision.FAIL], still=store.lease_expired(now),
            reason="lease expired", error_code=RUN_LEASE_EXPIRED,
            error_detail="the worker holding this run stopped heartbeating and the run "
                         "has used all its attempts",
        )
        report.requeued += requeued
        report.failed += failed
        report.holders = sorted(set(report.holders) | {r.runtime_id for r in rows
                                                       if r.runtime_id and (r.id in requeued
                                                                            or r.id in failed)})
        session.commit()
        if len(rows) < batch_size:
            return report
    report.more = True
    return report
