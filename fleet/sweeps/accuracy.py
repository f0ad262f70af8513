"""Execution accuracy (SPEC §8): alert when a graph's recent success drops.

For each graph with at least ``accuracy_min_runs`` finished runs in the last
``accuracy_lookback_days``: a daily value over the last
``accuracy_window_days``, a day counting when it has at least
``accuracy_min_day_runs`` finished runs. When the average over the last 3
days (days with data) is ``accuracy_drop_threshold`` or more below the
average over the last 7 days, the graph alerts, once per graph.

The daily value is the mean correctness score for a graph whose runs carry
scores (its ``score_output``, see :mod:`fleet.engine.scores`), and the success
rate otherwise. A scored graph's failed or timed-out runs have no score and
count as 0 (a wrong answer); its completed runs without a score (a value that
was not a number from 0 to 1) are left out. So scores that drop while every
run succeeds alert, and so do failures of a scored graph.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlmodel import Session

from fleet.ports import JobContext, JobSpec, Report
from fleet.store import alerts as alert_store
from fleet.store import monitors

KIND = "accuracy_drop"
SHORT_DAYS, LONG_DAYS = 3, 7


@dataclass
class GraphAccuracy:
    """One graph's daily series and averages."""

    graph_id: str
    runs: int
    measure: str = "success rate"  # or "correctness score"
    daily: dict[str, float] = field(default_factory=dict)  # ISO day -> value
    short_avg: float | None = None
    long_avg: float | None = None
    drop: float | None = None  # relative drop of the short average below the long one
    alert: bool = False


@dataclass
class AccuracyReport(Report):
    """Per graph evaluated: its series, averages and whether it alerted."""

    graphs: list[GraphAccuracy] = field(default_factory=list)
    alerting: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (f"accuracy: {len(self.graphs)} graph(s) evaluated, "
                f"{len(self.alerting)} alerting")


def day_value(day: monitors.DayStats, scored: bool | None = None) -> float | None:
    """The day's mean correctness score (failed runs counting 0) when ``scored`` (by default:
    when runs of the day carry scores), else its success rate; None when a scored graph's
    day has no run to judge."""
    if scored if scored is not None else day.scored > 0:
        judged = day.scored + (day.finished - day.succeeded)
        return day.score_sum / judged if judged else None
    return day.succeeded / day.finished if day.finished else 0.0


def _avg(days: dict[date, float], today: date, span: int) -> float | None:
    values = [v for d, v in days.items() if today - timedelta(days=span) < d <= today]
    return sum(values) / len(values) if values else None


def evaluate(graph_id: str, rows: Sequence[monitors.DayStats], today: date, *, min_runs: int,
             window_days: int, min_day_runs: int, threshold: float) -> GraphAccuracy | None:
    """The accuracy verdict of one graph from its per-day rows; None when it has too few runs."""
    total = sum(r.finished for r in rows)
    if total < min_runs:
        return None
    first = today - timedelta(days=window_days - 1)
    scored = any(r.scored for r in rows)
    values = {r.day: day_value(r, scored) for r in rows
              if r.finished >= min_day_runs and first <= r.day <= today}
    days = {d: v for d, v in values.items() if v is not None}
    result = GraphAccuracy(graph_id, total,
                           "correctness score" if scored else "success rate",
                           daily={d.isoformat(): round(v, 4) for d, v in sorted(days.items())})
    result.short_avg = _avg(days, today, SHORT_DAYS)
    result.long_avg = _avg(days, today, LONG_DAYS)
    if result.short_avg is not None and result.long_avg:
        result.drop = (result.long_avg - result.short_avg) / result.long_avg
        result.alert = result.drop >= threshold - 1e-9
    return result


def alert_message(g: GraphAccuracy) -> str:
    """The alert text for one graph."""
    assert g.short_avg is not None and g.long_avg is not None and g.drop is not None
    recent = ", ".join(f"{d}: {v:.0%}" for d, v in list(g.daily.items())[-LONG_DAYS:])
    return (f"Graph {g.graph_id}: the {SHORT_DAYS}-day average accuracy ({g.measure}) "
            f"{g.short_avg:.1%} is {g.drop:.1%} below the {LONG_DAYS}-day average "
            f"{g.long_avg:.1%} ({g.runs} finished runs in the lookback). Recent days: {recent}.")


def run_once(session: Session, now: datetime, ctx: JobContext) -> AccuracyReport:
    """Evaluate every graph with enough runs; alert on drops, resolve recoveries."""
    s = ctx.settings
    since = now - timedelta(days=s.accuracy_lookback_days)
    by_graph: dict[str, list[monitors.DayStats]] = defaultdict(list)
    for row in monitors.daily_outcomes(session, since, now):
        by_graph[row.graph_id].append(row)
    firing = set(alert_store.firing_fingerprints(session, KIND))
    session.commit()
    report = AccuracyReport()
    for graph_id in sorted(by_graph):
        g = evaluate(graph_id, by_graph[graph_id], now.date(), min_runs=s.accuracy_min_runs,
                     window_days=s.accuracy_window_days, min_day_runs=s.accuracy_min_day_runs,
                     threshold=s.accuracy_drop_threshold)
        if g is None:
            continue
        report.graphs.append(g)
        if g.alert:
            report.alerting.append(graph_id)
    if ctx.alerts is None:
        return report
    for g in report.graphs:
        if g.alert:
            ctx.alerts.fire(session, now, kind=KIND, fingerprint=g.graph_id,
                            message=alert_message(g), tag="product")
    for graph_id in sorted(firing - set(report.alerting)):
        ctx.alerts.resolve(session, now, kind=KIND, fingerprint=graph_id,
                           message=f"Graph {graph_id}: accuracy is back within threshold.")
        report.resolved.append(graph_id)
    return report


SWEEP = JobSpec(
    name="accuracy",
    description="alert when a graph's recent success rate (or correctness score) drops below "
                "its weekly average",
    cron_setting="cron_accuracy",
    run_once=run_once,
)
