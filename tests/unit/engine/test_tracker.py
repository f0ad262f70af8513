"""The tracker: lossless JSON round trip and metrics on known durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fleet.engine.tracker import FlowEvent, NodeExecution, Tracker, percentile, with_metrics

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _ex(key: str, node: str, block: str, start: float, dur: float, status: str = "completed",
        parents: list[str] | None = None) -> NodeExecution:
    return NodeExecution(
        exec_key=key, node_id=node, block_id=block, status=status,
        started_at=T0 + timedelta(seconds=start),
        ended_at=T0 + timedelta(seconds=start + dur),
        params={"value": key}, result=[["value", key]] if status == "completed" else None,
        error="boom" if status == "failed" else None, parents=parents or [])


def known() -> Tracker:
    # a(1s) -> b(4s) -> d(1s); a -> c(2s, failed); durations known exactly.
    return Tracker(
        run_id="r1", started_at=T0, ended_at=T0 + timedelta(seconds=7),
        executions=[
            _ex("a", "a", "constant", 0, 1),
            _ex("b", "b", "delay", 1, 4, parents=["a"]),
            _ex("c", "c", "delay", 1, 2, status="failed", parents=["a"]),
            _ex("d", "d", "template", 5, 1, parents=["b"]),
        ],
        events=[FlowEvent(T0 + timedelta(seconds=1), "a", "value", "b", "value", "a", 3),
                FlowEvent(T0 + timedelta(seconds=6), "d", "value", None, None,
                          {"truncated": True}, 99_999, True)],
    )


def test_json_round_trip_is_lossless() -> None:
    t = known()
    assert Tracker.from_json(t.to_json()) == t
    assert Tracker.from_dict(t.to_dict()) == t


def test_stored_form_leaves_metrics_to_the_reader() -> None:
    t = known()
    stored = t.to_dict(metrics=False)
    assert "metrics" not in stored and Tracker.from_dict(stored) == t
    assert with_metrics(stored) == t.to_dict()
    assert with_metrics(stored)["metrics"]["run"]["critical_path"] == ["a", "b", "d"]
    older = {**stored, "metrics": {"run": "as stored"}}  # a row written with its metrics
    assert with_metrics(older) is older
    assert with_metrics({"format": 99}) == {"format": 99}  # unreadable: left as it is


def test_run_metrics_on_known_durations() -> None:
    m = known().run_metrics()
    assert m.wall_time_s == 7.0
    assert m.nodes.count == 4 and m.nodes.success_count == 3 and m.nodes.error_count == 1
    assert m.nodes.success_rate == 0.75
    assert (m.nodes.min_s, m.nodes.max_s, m.nodes.avg_s) == (1.0, 4.0, 2.0)
    assert m.nodes.p95_s == 4.0
    assert (m.slowest_node, m.slowest_s) == ("b", 4.0)
    assert m.critical_path == ["a", "b", "d"] and m.critical_path_s == 6.0


def test_block_metrics() -> None:
    blocks = known().block_metrics()
    assert sorted(blocks) == ["constant", "delay", "template"]
    delay = blocks["delay"]
    assert (delay.count, delay.success_rate, delay.min_s, delay.max_s, delay.avg_s) == (
        2, 0.5, 2.0, 4.0, 3.0)


def test_percentile_nearest_rank() -> None:
    values = [float(i) for i in range(1, 21)]  # 1..20
    assert percentile(values, 0.95) == 19.0
    assert percentile([3.0], 0.95) == 3.0 and percentile([], 0.95) == 0.0


def test_empty_tracker() -> None:
    t = Tracker("r2")
    assert t.run_metrics().critical_path == [] and Tracker.from_json(t.to_json()) == t
