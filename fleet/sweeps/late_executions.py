"""Late executions (SPEC §8): runs queued too long, or running for too long.

Late means queued longer than ``late_queued_after_s`` (among runs queued in
the last ``late_lookback_s``) or running longer than ``late_running_after_s``.
The message lists totals by state, distinct users and the oldest few. There is
one incident per kind of lateness (fingerprint ``queued`` or ``running``) for
as long as it lasts: a backlog that grows every tick is one alert, reminded at
most every ``alert_reminder_s`` with the current count and oldest runs, and a
"resolved" note goes out when that kind clears.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from fleet.ports import JobContext, JobSpec, Report
from fleet.store import monitors

KIND = "late_executions"
NONE_MESSAGE = "No late executions detected."


@dataclass
class LateExecutionsReport(Report):
    """The message the monitor produced and what it did with it."""

    message: str = NONE_MESSAGE
    fingerprints: list[str] = field(default_factory=list)  # the incidents firing
    totals: dict[str, int] = field(default_factory=dict)
    users: int = 0
    late: int = 0
    alerted: bool = False  # a firing alert was raised (deduplicated by the service)
    resolved: bool = False

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return f"late_executions: {self.late} late" + (
            f" (firing: {', '.join(self.fingerprints)})" if self.fingerprints else "")


@dataclass(frozen=True)
class Window:
    """The instants that define lateness at ``now``."""

    queued_before: datetime
    queued_since: datetime
    running_before: datetime


def window(now: datetime, queued_after_s: float, lookback_s: float,
           running_after_s: float) -> Window:
    """Queued strictly before ``now - queued_after_s`` and at or after ``now - lookback_s``;
    running since strictly before ``now - running_after_s``."""
    return Window(now - timedelta(seconds=queued_after_s), now - timedelta(seconds=lookback_s),
                  now - timedelta(seconds=running_after_s))


def _since(row: monitors.LateRow) -> datetime:
    value = row.started_at if row.state == "running" else row.queued_at
    return value or datetime.min.replace(tzinfo=UTC)


def _fmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def message(rows: Sequence[monitors.LateRow], *, listed: int = 5) -> str:
    """The alert text: totals by state, distinct users, the oldest ``listed``, how many more."""
    if not rows:
        return NONE_MESSAGE
    totals = Counter(r.state for r in rows)
    users = len({r.user_id for r in rows})
    ordered = sorted(rows, key=lambda r: (_since(r), r.id))
    by_state = ", ".join(f"{state}: {n}" for state, n in sorted(totals.items()))
    lines = [f"Late executions: {len(rows)} run{'s' if len(rows) != 1 else ''} "
             f"({by_state}) from {users} user{'s' if users != 1 else ''}.",
             f"Oldest {min(listed, len(rows))}:"]
    for r in ordered[:listed]:
        started = f"started at {_fmt(r.started_at)}" if r.started_at else "not started"
        lines.append(f"- run {r.id}: graph {r.graph_id} v{r.graph_version}, user {r.user_id}, "
                     f"{r.state}, {started}")
    if len(rows) > listed:
        lines.append(f"... and {len(rows) - listed} more.")
    return "\n".join(lines)


STATES = ("queued", "running")


def run_once(session: Session, now: datetime, ctx: JobContext) -> LateExecutionsReport:
    """Find late runs; keep one incident per kind of lateness firing while it lasts."""
    s = ctx.settings
    w = window(now, s.late_queued_after_s, s.late_lookback_s, s.late_running_after_s)
    rows = monitors.late_runs(session, queued_before=w.queued_before,
                              queued_since=w.queued_since, running_before=w.running_before)
    session.commit()
    text = message(rows, listed=s.late_list_count)
    report = LateExecutionsReport(message=text, late=len(rows),
                                  totals=dict(Counter(r.state for r in rows)),
                                  users=len({r.user_id for r in rows}))
    if ctx.alerts is None:
        return report
    for state in STATES:
        late = [r for r in rows if r.state == state]
        if late:
            ctx.alerts.fire(session, now, kind=KIND, fingerprint=state, tag="ops",
                            message=message(late, listed=s.late_list_count))
            report.fingerprints.append(state)
            report.alerted = True
        else:
            result = ctx.alerts.resolve(session, now, kind=KIND, fingerprint=state,
                                        message=f"Late {state} runs cleared: none is late now.")
            report.resolved = report.resolved or bool(getattr(result, "fingerprints", None))
    return report


SWEEP = JobSpec(
    name="late_executions",
    description="alert on runs queued or running for too long",
    cron_setting="cron_late_executions",
    run_once=run_once,
)
