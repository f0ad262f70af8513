"""Waiting timeouts (SPEC §5): runs waiting too long for a tool or an approval.

``waiting_tool`` longer than ``waiting_tool_timeout_s`` → ``failed``;
``waiting_approval`` longer than ``waiting_approval_timeout_s`` → ``timeout``.
The time a run entered its waiting state is its ``state_changed_at``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.errors import RUN_WAIT_TIMEOUT
from fleet.ports import JobContext, JobSpec, Report
from fleet.runs import fsm
from fleet.store import runs as run_store
from fleet.store.db import begin_write
from fleet.store.models import RunState


@dataclass
class WaitingTimeoutsReport(Report):
    """What one waiting-timeout pass changed."""

    tool_failed: list[str] = field(default_factory=list)
    approval_timed_out: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (f"waiting_timeouts: waiting_tool -> failed {len(self.tool_failed)}, "
                f"waiting_approval -> timeout {len(self.approval_timed_out)}")


def cutoffs(now: datetime, tool_s: float, approval_s: float) -> dict[RunState, datetime]:
    """Per waiting state: runs that entered it strictly before the instant have waited too long."""
    return {RunState.WAITING_TOOL: now - timedelta(seconds=tool_s),
            RunState.WAITING_APPROVAL: now - timedelta(seconds=approval_s)}


def run_once(session: Session, now: datetime, ctx: JobContext) -> WaitingTimeoutsReport:
    """Time out over-long waits, up to ``waiting_timeout_batch`` per state."""
    s = ctx.settings
    limits = cutoffs(now, s.waiting_tool_timeout_s, s.waiting_approval_timeout_s)
    report = WaitingTimeoutsReport()
    begin_write(session, "waiting_timeouts")
    before = limits[RunState.WAITING_TOOL]
    ids = run_store.waiting_since(session, RunState.WAITING_TOOL.value, before,
                              s.waiting_timeout_batch)
    report.tool_failed = fsm.transition_many(
        session, ids, [RunState.WAITING_TOOL], RunState.FAILED, now,
        extra=[run_store.in_state_since_before(before)], detail="tool result never arrived",
        error_code=RUN_WAIT_TIMEOUT,
        error_detail=f"no tool result within {s.waiting_tool_timeout_s:g} s",
    )
    before = limits[RunState.WAITING_APPROVAL]
    ids = run_store.waiting_since(session, RunState.WAITING_APPROVAL.value, before,
                              s.waiting_timeout_batch)
    report.approval_timed_out = fsm.transition_many(
        session, ids, [RunState.WAITING_APPROVAL], RunState.TIMEOUT, now,
        extra=[run_store.in_state_since_before(before)], detail="approval never given",
        error_code=RUN_WAIT_TIMEOUT,
        error_detail=f"no approval within {s.waiting_approval_timeout_s:g} s",
    )
    session.commit()
    return report


SWEEP = JobSpec(
    name="waiting_timeouts",
    description="fail runs waiting too long for a tool, time out unanswered approvals",
    cron_setting="cron_waiting_timeouts",
    run_once=run_once,
)
