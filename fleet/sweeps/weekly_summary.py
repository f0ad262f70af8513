"""Weekly summary (SPEC §8): each user active in the last 7 days gets their week.

Runs, succeeded and failed, success rate, total and average run time, cost,
most-run graph and top failing graphs, sent on the user's own notification
URLs (tag ``user``) once per user and week; a user can opt out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.ports import JobContext, JobSpec, Report
from fleet.store import alerts as alert_store
from fleet.store import monitors
from fleet.sweeps.notices import send_notice

FAILED = ("failed", "timeout")  # the terminal states that count as failures

KIND = "weekly_summary"
WEEK = timedelta(days=7)
TOP_FAILING = 3


@dataclass
class UserWeek:
    """One user's week."""

    user_id: str
    runs: int = 0
    succeeded: int = 0
    failed: int = 0
    wall_time_s: float = 0.0
    cost: float = 0.0  # the sum of the runs' costs (each the sum of its node runs' costs)
    most_run_graph: str | None = None
    costliest_graph: tuple[str, float] | None = None  # the graph that cost the most, if any
    top_failing: list[tuple[str, int]] = field(default_factory=list)

    @property
    def success_rate(self) -> float:
        """Succeeded over all finished runs."""
        return self.succeeded / self.runs if self.runs else 0.0

    @property
    def avg_time_s(self) -> float:
        """Average run time."""
        return self.wall_time_s / self.runs if self.runs else 0.0


@dataclass
class WeeklySummaryReport(Report):
    """Who got a summary, who opted out."""

    week_of: str = ""
    sent: list[str] = field(default_factory=list)
    opted_out: list[str] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)  # user -> message

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (f"weekly_summary ({self.week_of}): {len(self.sent)} sent, "
                f"{len(self.opted_out)} opted out")


def summarise(rows: Sequence[monitors.UserGraphStats]) -> dict[str, UserWeek]:
    """Fold per (user, graph, state) rows into one summary per user."""
    weeks: dict[str, UserWeek] = {}
    per_graph: dict[str, Counter[str]] = defaultdict(Counter)
    failing: dict[str, Counter[str]] = defaultdict(Counter)
    costs: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        w = weeks.setdefault(r.user_id, UserWeek(r.user_id))
        w.runs += r.runs
        w.wall_time_s += r.wall_time_s
        w.cost += r.cost
        per_graph[r.user_id][r.graph_id] += r.runs
        costs[r.user_id][r.graph_id] += r.cost
        if r.state == "completed":
            w.succeeded += r.runs
        elif r.state in FAILED:
            w.failed += r.runs
            failing[r.user_id][r.graph_id] += r.runs
    for user, w in weeks.items():
        w.most_run_graph = min(per_graph[user].items(), key=lambda kv: (-kv[1], kv[0]))[0]
        w.top_failing = sorted(failing[user].items(), key=lambda kv: (-kv[1], kv[0]))[
            :TOP_FAILING]
        spent = [(g, c) for g, c in costs[user].items() if c > 0]
        if spent:
            w.costliest_graph = min(spent, key=lambda kv: (-kv[1], kv[0]))
    return weeks


def amount(value: float) -> str:
    """A cost for people: two decimals, more for a small non-zero amount."""
    return f"{value:.4g}" if 0 < abs(value) < 0.01 else f"{value:.2f}"


def message(w: UserWeek, since: datetime, until: datetime) -> str:
    """The summary text for one user."""
    lines = [
        f"Your fleet week ({since:%Y-%m-%d} to {until:%Y-%m-%d}):",
        f"- runs: {w.runs} ({w.succeeded} succeeded, {w.failed} failed; success rate "
        f"{w.success_rate:.0%})",
        f"- run time: {w.wall_time_s:.1f} s total, {w.avg_time_s:.1f} s average",
        f"- cost: {amount(w.cost)}" + (
            f" (most by {w.costliest_graph[0]}: {amount(w.costliest_graph[1])})"
            if w.costliest_graph else ""),
        f"- most-run graph: {w.most_run_graph}",
    ]
    if w.top_failing:
        lines.append("- top failing graphs: "
                     + ", ".join(f"{g} ({n} failed)" for g, n in w.top_failing))
    else:
        lines.append("- no failed runs")
    return "\n".join(lines)


def run_once(session: Session, now: datetime, ctx: JobContext) -> WeeklySummaryReport:
    """Send each active user their summary of the 7 days before ``now``."""
    since = now - WEEK
    weeks = summarise(monitors.user_graph_stats(session, since, now))
    report = WeeklySummaryReport(week_of=since.date().isoformat())
    for user_id in sorted(weeks):
        setting = alert_store.get_notification(session, user_id)
        if setting is not None and not setting.weekly_summary:
            report.opted_out.append(user_id)
            continue
        report.users[user_id] = message(weeks[user_id], since, now)
    session.commit()
    for user_id, text in report.users.items():
        if send_notice(ctx.alerts, session, now, kind=KIND,
                       fingerprint=f"{user_id}:{report.week_of}", message=text, tag="user",
                       user_id=user_id):
            report.sent.append(user_id)
    return report


SWEEP = JobSpec(
    name="weekly_summary",
    description="send each active user a summary of their week",
    cron_setting="cron_weekly_summary",
    run_once=run_once,
)
