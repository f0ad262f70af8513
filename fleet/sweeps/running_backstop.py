"""Running backstop (SPEC §8): runs past their timeout whose runtime is gone → ``timeout``.

The lease reaper handles crashed workers whose leases expire; this catches
what it cannot: a run still marked running past its graph's ``timeout_s``
while its runtime is offline, deleted or unknown.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.errors import RUN_TIMEOUT
from fleet.ports import JobContext, JobSpec, Report
from fleet.runs import fsm
from fleet.store import runs as run_store
from fleet.store.db import begin_write
from fleet.store.models import RunState


@dataclass
class RunningBackstopReport(Report):
    """What one backstop pass changed."""

    timed_out: list[str] = field(default_factory=list)
    examined: int = 0

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return f"running_backstop: examined {self.examined}, timed out {len(self.timed_out)}"


def decide(row: run_store.RunningRow, now: datetime, default_timeout_s: float) -> bool:
    """Whether the run is strictly past its timeout and its runtime is gone."""
    if row.started_at is None:
        return False
    timeout = row.timeout_s if row.timeout_s is not None else default_timeout_s
    past = row.started_at + timedelta(seconds=timeout) < now
    gone = row.runtime_id is None or row.runtime_status != "online"
    return past and gone


def run_once(session: Session, now: datetime, ctx: JobContext) -> RunningBackstopReport:
    """Time out abandoned running runs, up to ``backstop_batch``."""
    s = ctx.settings
    report = RunningBackstopReport()
    begin_write(session, "running_backstop")
    # No run can be past its timeout before the shortest one allowed has passed;
    # the per-run timeout is applied by decide().
    rows = run_store.running_started_before(session, now, s.backstop_batch)
    report.examined = len(rows)
    # One UPDATE per distinct timeout, its cut-off and the runtime check repeated inside.
    by_timeout: dict[float, list[str]] = defaultdict(list)
    for row in rows:
        if decide(row, now, s.default_graph_timeout_s):
            timeout = row.timeout_s if row.timeout_s is not None else s.default_graph_timeout_s
            by_timeout[timeout].append(row.id)
    for timeout, ids in sorted(by_timeout.items()):
        report.timed_out += fsm.transition_many(
            session, ids, [RunState.RUNNING], RunState.TIMEOUT, now,
            extra=[run_store.started_before(now - timedelta(seconds=timeout)),
                   run_store.runtime_gone()],
            detail="past its timeout with its runtime gone", error_code=RUN_TIMEOUT,
            error_detail="the run ran past its timeout and the runtime executing it is gone",
            cost=run_store.node_cost_sum(),  # what its node runs cost before it was lost
        )
    session.commit()
    return report


SWEEP = JobSpec(
    name="running_backstop",
    description="time out running runs past their timeout whose runtime is gone",
    cron_setting="cron_running_backstop",
    run_once=run_once,
)
