"""The run page's SVG drawings: layered DAG layout, timeline, and the fallback to a list."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fleet.web.svg import Bar, bars_from_tracker, dag, gantt, layers

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _graph(n_nodes: int, links: list[tuple[str, str]]) -> dict[str, object]:
    return {"nodes": [{"id": f"n{i}", "block": "constant"} for i in range(n_nodes)],
            "links": [{"source": f"{a}.value", "sink": f"{b}.value"} for a, b in links]}


def test_layers_are_longest_paths_from_the_inputs() -> None:
    # n0 -> n1 -> n3 and n0 -> n3 and n2 -> n3: n3 sits after n1, not beside it.
    got = layers(["n0", "n1", "n2", "n3"], [("n0", "n1"), ("n1", "n3"), ("n0", "n3"),
                                              ("n2", "n3")])
    assert got == {"n0": 0, "n1": 1, "n2": 0, "n3": 2}


def _boxes(svg: str) -> dict[str, tuple[float, float]]:
    found = {}
    for m in re.finditer(r'data-node="([^"]+)".*?<rect x="(\d+)" y="(\d+)"', svg):
        found[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    return found


def test_dag_places_nodes_left_to_right_and_colours_states() -> None:
    svg = str(dag(_graph(3, [("n0", "n1"), ("n1", "n2")]), {"n0": "completed", "n1": "failed"},
                  max_nodes=10))
    boxes = _boxes(svg)
    assert boxes["n0"][0] < boxes["n1"][0] < boxes["n2"][0]
    assert svg.count('class="edge"') == 2
    assert 'data-node="n1" data-state="failed"' in svg and "#c62828" in svg


def test_dag_escapes_names_and_gives_up_on_big_graphs() -> None:
    evil = {"nodes": [{"id": "<script>x</script>", "block": "a&b"}], "links": []}
    svg = str(dag(evil, {}, max_nodes=10))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a&amp;b" in svg
    assert dag(_graph(11, []), {}, max_nodes=10) is None
    assert dag({"nodes": []}, {}, max_nodes=10) is None


def test_gantt_scales_bars_on_one_axis() -> None:
    bars = [Bar("a", "constant", T0, T0 + timedelta(seconds=1), "completed"),
            Bar("b", "delay", T0 + timedelta(seconds=1), T0 + timedelta(seconds=4), "failed")]
    svg = str(gantt(bars, T0 + timedelta(seconds=10), max_rows=10))
    rects = re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    (xa, wa), (xb, wb) = [(float(x), float(w)) for x, w in rects]
    assert xa < xb and abs(wb / wa - 3.0) < 0.01  # b ran three times as long
    assert abs((xb - xa) - wa) < 0.01  # b starts where a ended
    assert gantt(bars, T0, max_rows=1) is None
    assert gantt([Bar("c", "x", None, None, "waiting")], T0, max_rows=5) is None


def test_a_running_bar_reaches_now() -> None:
    bars = [Bar("a", "x", T0, T0 + timedelta(seconds=2), "completed"),
            Bar("b", "x", T0 + timedelta(seconds=2), None, "running")]
    svg = str(gantt(bars, T0 + timedelta(seconds=4), max_rows=5))
    widths = [float(w) for w in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"', svg)]
    assert abs(widths[0] - widths[1]) < 0.01


def test_bars_from_tracker() -> None:
    tracker = {"executions": [
        {"node_id": "b", "block_id": "x", "status": "completed",
         "started_at": (T0 + timedelta(seconds=1)).isoformat(),
         "ended_at": (T0 + timedelta(seconds=2)).isoformat()},
        {"node_id": "a", "block_id": "x", "status": "completed",
         "started_at": T0.isoformat(), "ended_at": (T0 + timedelta(seconds=1)).isoformat()}]}
    assert [b.node_id for b in bars_from_tracker(tracker)] == ["a", "b"]
