"""The pure decision functions of the sweeps, with exact-threshold boundaries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from fleet.store import monitors
from fleet.store import runs as run_store
from fleet.sweeps import (
    accuracy,
    block_errors,
    late_executions,
    queued_expiry,
    running_backstop,
    stale_runtimes,
    weekly_summary,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_stale_decide() -> None:
    assert stale_runtimes.decide(["a", "b"], None) == ["a", "b"]  # liveness down: DB decides
    assert stale_runtimes.decide(["a", "b"], {"a": True, "b": False}) == ["b"]
    assert stale_runtimes.decide(["a"], {}) == ["a"]
    assert stale_runtimes.stale_before(NOW, 150) == NOW - timedelta(seconds=150)


def test_queued_expiry_cutoff() -> None:
    assert queued_expiry.cutoff(NOW, 0) is None
    assert queued_expiry.cutoff(NOW, 7200) == NOW - timedelta(hours=2)


def _running(started: datetime | None, timeout: float | None, status: str | None,
             runtime: str | None = "rt") -> run_store.RunningRow:
    return run_store.RunningRow("r", started, timeout, runtime, status)


def test_backstop_decide_boundaries() -> None:
    start = NOW - timedelta(seconds=100)
    assert not running_backstop.decide(_running(start, 100, None), NOW, 7200)  # exactly at
    assert running_backstop.decide(_running(start, 99.999, None), NOW, 7200)
    assert running_backstop.decide(_running(start, 99, "offline"), NOW, 7200)
    assert not running_backstop.decide(_running(start, 99, "online"), NOW, 7200)
    assert running_backstop.decide(_running(start, 99, "online", runtime=None), NOW, 7200)
    assert not running_backstop.decide(_running(start, None, None), NOW, 7200)  # default 2 h
    assert running_backstop.decide(_running(NOW - timedelta(hours=3), None, None), NOW, 7200)
    assert not running_backstop.decide(_running(None, 1, None), NOW, 7200)


def _late(i: int, state: str, user: str, minutes_ago: float) -> monitors.LateRow:
    at = NOW - timedelta(minutes=minutes_ago)
    return monitors.LateRow(f"run{i:02d}", user, f"g{i}", i, state, at,
                         at if state == "running" else None)


def test_late_message_contents_and_order() -> None:
    rows = [_late(1, "queued", "alice", 10), _late(2, "queued", "bob", 50),
            _late(3, "running", "alice", 60 * 30), _late(4, "queued", "carol", 20),
            _late(5, "queued", "alice", 30), _late(6, "queued", "bob", 40),
            _late(7, "running", "dave", 60 * 25)]
    text = late_executions.message(rows, listed=5)
    lines = text.splitlines()
    assert lines[0] == "Late executions: 7 runs (queued: 5, running: 2) from 4 users."
    assert lines[1] == "Oldest 5:"
    listed = [ln.split(":")[0].removeprefix("- run ") for ln in lines[2:7]]
    assert listed == ["run03", "run07", "run02", "run06", "run05"]
    assert lines[2] == ("- run run03: graph g3 v3, user alice, running, started at "
                        "2026-03-01 06:00:00 UTC")
    assert lines[4].endswith("user bob, queued, not started")
    assert lines[7] == "... and 2 more."
    assert len(lines) == 8


def test_late_message_empty_and_short() -> None:
    assert late_executions.message([]) == "No late executions detected."
    text = late_executions.message([_late(1, "queued", "alice", 10)])
    assert text.splitlines()[0] == "Late executions: 1 run (queued: 1) from 1 user."
    assert "more" not in text


def test_late_window() -> None:
    w = late_executions.window(NOW, 300, 3600, 86400)
    assert (w.queued_before, w.queued_since, w.running_before) == (
        NOW - timedelta(minutes=5), NOW - timedelta(hours=1), NOW - timedelta(days=1))


def test_block_threshold_boundaries() -> None:
    rows = [monitors.BlockStats("exact", 10, 5), monitors.BlockStats("under", 10, 4),
            monitors.BlockStats("few", 9, 9), monitors.BlockStats("worst", 20, 19)]
    assert [r.block_id for r in block_errors.over_threshold(rows, 10, 0.5)] == ["worst", "exact"]


def test_block_summary_message() -> None:
    rows = [monitors.BlockStats("a", 100, 3), monitors.BlockStats("b", 5, 4),
            monitors.BlockStats("c", 50, 0), monitors.BlockStats("d", 8, 1),
            monitors.BlockStats("e", 9, 2)]
    text = block_errors.summary_message(rows, 3, 24)
    assert [ln.split(":")[0] for ln in text.splitlines()[1:]] == ["- b", "- a", "- e"]
    assert block_errors.summary_message([monitors.BlockStats("c", 5, 0)], 3, 24) == \
        "No block errors in the last 24 h."


def _day(d: date, finished: int, ok: int, scored: int = 0, score: float = 0.0,
         graph: str = "g") -> monitors.DayStats:
    return monitors.DayStats(graph, d, finished, ok, scored, score)


def _series(values: list[float], today: date, runs: int = 10) -> list[monitors.DayStats]:
    """Daily success rates, oldest first, the last one on ``today``."""
    n = len(values)
    return [_day(today - timedelta(days=n - 1 - i), runs, round(v * runs))
            for i, v in enumerate(values)]


def _eval(rows: list[monitors.DayStats], today: date) -> accuracy.GraphAccuracy | None:
    return accuracy.evaluate("g", rows, today, min_runs=10, window_days=21, min_day_runs=3,
                             threshold=0.10)


def test_accuracy_alert_at_exact_threshold() -> None:
    today = NOW.date()
    # 7-day average (0.86 x 4 + 0.72 x 3) / 7 = 0.8, 3-day 0.72: exactly 10 % below.
    rows = _series([0.86, 0.86, 0.86, 0.86, 0.72, 0.72, 0.72], today, runs=50)
    g = _eval(rows, today)
    assert g is not None and g.short_avg == pytest.approx(0.72)
    assert g.long_avg == pytest.approx(0.8) and g.drop == pytest.approx(0.10)
    assert g.alert
    rows = _series([0.86, 0.86, 0.86, 0.86, 0.74, 0.74, 0.74], today, runs=50)
    g = _eval(rows, today)
    assert g is not None and not g.alert and g.drop is not None and g.drop < 0.10


def test_accuracy_needs_enough_runs_and_day_runs() -> None:
    today = NOW.date()
    assert _eval([_day(today, 9, 0)], today) is None  # under min_runs
    # Days under 3 finished runs do not count: only the good day has data.
    rows = [_day(today - timedelta(days=5), 8, 8), _day(today, 2, 0)]
    g = _eval(rows, today)
    assert g is not None and g.daily == {(today - timedelta(days=5)).isoformat(): 1.0}
    assert g.short_avg is None and not g.alert


def test_accuracy_prefers_correctness_score() -> None:
    d = _day(NOW.date(), 10, 10, scored=4, score=2.0)
    assert accuracy.day_value(d) == 0.5
    assert accuracy.day_value(_day(NOW.date(), 4, 3)) == 0.75
    # A scored graph's failed runs count 0; completed runs without a score are left out.
    assert accuracy.day_value(_day(NOW.date(), 10, 8, scored=6, score=4.8)) == 0.6
    # A scored graph's day with nothing to judge has no value (not a success rate).
    assert accuracy.day_value(_day(NOW.date(), 5, 5), scored=True) is None
    assert accuracy.day_value(_day(NOW.date(), 5, 5), scored=False) == 1.0


def test_accuracy_of_a_scored_graph_uses_scores_on_every_day() -> None:
    today = NOW.date()
    # Every run succeeds; scores fall from 0.9 to 0.6. A day whose runs carry no score
    # (before the graph had a score_output) is not read as a 100 % success rate.
    rows = [_day(today - timedelta(days=back), 5, 5, scored=5, score=5 * (0.9 if back >= 3
                                                                          else 0.6))
            for back in range(6)]
    rows.append(_day(today - timedelta(days=6), 5, 5))
    g = _eval(rows, today)
    assert g is not None and g.measure == "correctness score" and g.alert
    assert len(g.daily) == 6 and g.short_avg == pytest.approx(0.6)
    assert g.long_avg == pytest.approx((0.9 * 3 + 0.6 * 3) / 6)
    assert "accuracy (correctness score) 60.0%" in accuracy.alert_message(g)
    plain = _eval(_series([1, 1, 1, 1, 0.5, 0.5, 0.5], today), today)
    assert plain is not None and plain.measure == "success rate" and plain.alert


def test_accuracy_ignores_days_outside_window() -> None:
    today = NOW.date()
    rows = [_day(today - timedelta(days=25), 30, 30), *_series([0.5, 0.5, 0.5], today)]
    g = _eval(rows, today)
    assert g is not None and len(g.daily) == 3 and not g.alert


def test_weekly_summarise() -> None:
    rows = [monitors.UserGraphStats("alice", "g1", "completed", 6, 60.0, 1.5),
            monitors.UserGraphStats("alice", "g2", "failed", 3, 30.0, 0.5),
            monitors.UserGraphStats("alice", "g3", "timeout", 1, 10.0, 0.0),
            monitors.UserGraphStats("bob", "g9", "cancelled", 2, 4.0, 0.0)]
    weeks = weekly_summary.summarise(rows)
    a = weeks["alice"]
    assert (a.runs, a.succeeded, a.failed) == (10, 6, 4)
    assert a.success_rate == 0.6 and a.avg_time_s == 10.0 and a.cost == 2.0
    assert a.most_run_graph == "g1" and a.top_failing == [("g2", 3), ("g3", 1)]
    text = weekly_summary.message(a, NOW - timedelta(days=7), NOW)
    assert "runs: 10 (6 succeeded, 4 failed; success rate 60%)" in text
    assert "top failing graphs: g2 (3 failed), g3 (1 failed)" in text
    assert weeks["bob"].failed == 0 and "no failed runs" in weekly_summary.message(
        weeks["bob"], NOW, NOW)
    assert a.costliest_graph == ("g1", 1.5) and weeks["bob"].costliest_graph is None
    assert "- cost: 2.00 (most by g1: 1.50)" in text
    assert "- cost: 0.00\n" in weekly_summary.message(weeks["bob"], NOW, NOW)


def test_weekly_amounts_keep_small_costs_visible() -> None:
    assert weekly_summary.amount(0.0) == "0.00"
    assert weekly_summary.amount(0.004) == "0.004"
    assert weekly_summary.amount(12.345) == "12.35"
