"""Executor semantics on SQLite and PostgreSQL: routing, limits, timeout, cancel, waits."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete as sa_delete
from sqlalchemy import update
from sqlmodel import Session, col

from fleet.engine.blocks.registry import BlockRegistry
from fleet.engine.tracker import Tracker
from fleet.errors import RUN_INVALID_GRAPH, RUN_NODE_FAILED, RUN_TIMEOUT
from fleet.runs import leases
from fleet.runs.execute import StopSignal, execute
from fleet.runs.inline import run_inline
from fleet.runs.writer import RunWriter
from fleet.settings import Settings
from fleet.store import graphs, node_runs
from fleet.store import runs as run_store
from fleet.store.models import Run
from fleet.testing.graphs import delay_chain
from tests.helpers import make_run
from tests.integration.runs.conftest import Probe, chain

Opener = Callable[[], Session]


def _go(open_session: Opener, run: Run, registry: BlockRegistry, settings: Settings,
        **kw: Any) -> Any:
    return run_inline(open_session, run.id, registry=registry, settings=settings, **kw)


def _row(open_session: Opener, run_id: str) -> Run:
    with open_session() as s:
        row = run_store.get(s, run_id)
        assert row is not None
        return row


def test_chain_completes_with_outputs_and_stats(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings,
        probe: Probe) -> None:
    run = submit(chain(3, sleep_s=0.01))
    out = _go(open_session, run, registry, settings)
    assert out.state == "completed" and out.executed == 3 and out.replayed == 0
    row = _row(open_session, run.id)
    assert row.state == "completed" and row.outputs == {"n3.value": 1}
    assert row.node_count == 3 and row.node_error_count == 0
    assert row.wall_time_s is not None and row.wall_time_s >= 0.03
    assert row.cpu_time_s is not None and row.cpu_time_s >= 0
    assert row.lease_id is None and row.completed_at is not None
    tracker = Tracker.from_dict(row.tracker or {})
    assert "metrics" not in (row.tracker or {})  # derived: recomputed when read
    assert [e.node_id for e in tracker.executions] == ["n1", "n2", "n3"]
    assert tracker.run_metrics().critical_path == ["n1", "n2", "n3"]
    with open_session() as s:
        nrs = node_runs.for_run(s, run.id)
        assert [(n.node_id, n.state, n.outputs) for n in nrs] == [
            ("n1", "completed", [["value", 1]]), ("n2", "completed", [["value", 1]]),
            ("n3", "completed", [["value", 1]])]
        flow = [(e.source_node, e.source_pin, e.sink_node, e.sink_pin, e.data)
                for e in run_store.events(s, run.id, kind="output")]
    assert flow == [("n1", "value", "n2", "value", 1), ("n2", "value", "n3", "value", 1),
                    ("n3", "value", None, None, 1)]
    assert probe.calls == {"n1": 1, "n2": 1, "n3": 1}


def test_fan_out_and_fan_in(open_session: Opener, submit: Any, registry: BlockRegistry,
                            settings: Settings, probe: Probe) -> None:
    definition = {
        "id": "fan",
        "nodes": [
            {"id": "src", "block": "constant", "inputs": {"value": 20}},
            {"id": "left", "block": "count"},
            {"id": "right", "block": "count"},
            {"id": "join", "block": "add"},
        ],
        "links": [
            {"source": "src.value", "sink": "left.value"},
            {"source": "src.value", "sink": "right.value"},
            {"source": "left.value", "sink": "join.a"},
            {"source": "right.value", "sink": "join.b"},
        ],
        "outputs": {"total": "join.sum"},
    }
    out = _go(open_session, submit(definition), registry, settings)
    assert out.state == "completed" and out.outputs == {"total": 40}
    assert probe.calls == {"left": 1, "right": 1, "join": 1}
    join = next(e for e in out.tracker.executions if e.node_id == "join")
    assert join.params == {"a": 20, "b": 20} and len(join.parents) == 2


def test_repeated_outputs_trigger_each_sink_execution(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings,
        probe: Probe) -> None:
    definition = {
        "id": "items",
        "nodes": [
            {"id": "src", "block": "constant", "inputs": {"items": ["a", "b", "c"]}},
            {"id": "prefix", "block": "constant", "inputs": {"value": ">"}},
            {"id": "each", "block": "count"},
            {"id": "fmt", "block": "template", "inputs": {"template": "{p}{value}"}},
        ],
        "links": [
            {"source": "src.value", "sink": "each.value"},
            {"source": "each.value", "sink": "fmt.value"},
        ],
    }
    run = submit(definition)
    out = _go(open_session, run, registry, settings)
    # fmt's template refers to {p}, which is missing: only a failure proves it ran.
    assert out.state == "failed" and "{p}" in (out.error or "")
    assert probe.calls["each"] == 3

    fixed = {**definition, "id": "items2"}
    fixed["nodes"] = [*definition["nodes"][:3],
                      {"id": "fmt", "block": "template", "inputs": {"template": "{value}!"}}]
    probe.calls.clear()
    out = _go(open_session, submit(fixed), registry, settings)
    assert out.state == "completed" and probe.calls["each"] == 3
    texts = sorted(e.result[0][1] for e in out.tracker.executions if e.node_id == "fmt")
    assert texts == ["a!", "b!", "c!"]


def test_repeated_values_fan_in_with_a_single_value(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings) -> None:
    definition = {
        "id": "sticky",
        "nodes": [
            {"id": "xs", "block": "constant", "inputs": {"items": [1, 2, 3]}},
            {"id": "k", "block": "constant", "inputs": {"value": 10}},
            {"id": "sum", "block": "add"},
        ],
        "links": [{"source": "xs.value", "sink": "sum.a"}, {"source": "k.value", "sink": "sum.b"}],
    }
    out = _go(open_session, submit(definition), registry, settings)
    assert out.state == "completed"
    sums = sorted(e.result[0][1] for e in out.tracker.executions if e.node_id == "sum")
    assert sums == [11, 12, 13]


@pytest.mark.parametrize(("value", "taken", "skipped"), [(5, "big", "small"), (1, "small", "big")])
def test_branch_routes_one_way(open_session: Opener, submit: Any, registry: BlockRegistry,
                               settings: Settings, probe: Probe, value: int, taken: str,
                               skipped: str) -> None:
    definition = {
        "id": "branchy",
        "inputs": {"x": {"type": "integer", "required": True, "targets": ["test.value"]}},
        "nodes": [
            {"id": "test", "block": "branch", "inputs": {"op": "gt", "compare": 3}},
            {"id": "big", "block": "count"},
            {"id": "small", "block": "count"},
        ],
        "links": [{"source": "test.true", "sink": "big.value"},
                  {"source": "test.false", "sink": "small.value"}],
    }
    out = _go(open_session, submit(definition, {"x": value}), registry, settings)
    assert out.state == "completed"
    assert probe.calls.get(taken) == 1 and skipped not in probe.calls
    assert out.outputs == {f"{taken}.value": value}


def test_concurrency_limit_respected(open_session: Opener, submit: Any,
                                     registry: BlockRegistry, settings: Settings,
                                     probe: Probe) -> None:
    nodes: list[dict[str, Any]] = [{"id": "src", "block": "constant", "inputs": {"value": 1}}]
    links = []
    for i in range(6):
        nodes.append({"id": f"w{i}", "block": "count", "inputs": {"sleep_s": 0.05}})
        links.append({"source": "src.value", "sink": f"w{i}.value"})
    run = submit({"id": "wide", "nodes": nodes, "links": links})
    limited = settings.model_copy(update={"node_concurrency": 2})
    out = _go(open_session, run, registry, limited)
    assert out.state == "completed" and sum(probe.calls.values()) == 6
    assert probe.peak == 2


def test_timeout_ends_run_as_timeout(open_session: Opener, submit: Any,
                                     registry: BlockRegistry, settings: Settings,
                                     probe: Probe) -> None:
    definition = {
        "id": "slow", "timeout_s": 0.3,
        "nodes": [{"id": "wait", "block": "delay", "inputs": {"seconds": 30}},
                  {"id": "after", "block": "count"}],
        "links": [{"source": "wait.value", "sink": "after.value"}],
    }
    run = submit(definition)
    t0 = time.monotonic()
    out = _go(open_session, run, registry, settings)
    assert time.monotonic() - t0 < 5
    row = _row(open_session, run.id)
    assert out.state == row.state == "timeout" and row.error_code == RUN_TIMEOUT
    assert "after" not in probe.calls


def test_cancel_requested_is_checked_between_nodes(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings,
        probe: Probe) -> None:
    run = submit(chain(4))

    def request_cancel() -> None:
        with open_session() as s:
            s.execute(update(Run).where(col(Run.id) == run.id).values(cancel_requested=True))
            s.commit()

    probe.hooks["n2"] = request_cancel
    out = _go(open_session, run, registry, settings)
    assert out.state == "cancelled" == _row(open_session, run.id).state
    assert probe.calls == {"n1": 1, "n2": 1}


def test_stop_signal_cancel_and_quiet_stops(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings,
        probe: Probe) -> None:
    run = submit(chain(3))
    stop = StopSignal()
    probe.hooks["n1"] = lambda: stop.request("shutdown")
    out = _go(open_session, run, registry, settings, stop=stop)
    assert out.state is None and out.reason == "shutdown"
    row = _row(open_session, run.id)
    assert row.state == "running" and row.lease_id is not None  # the runtime releases it
    stop.request("cancelled")  # the first reason wins
    assert stop.reason() == "shutdown"

    run2 = submit({**chain(3), "id": "chain3b"})
    stop2 = StopSignal()
    probe.hooks["n1"] = lambda: stop2.request("cancelled")
    assert _go(open_session, run2, registry, settings, stop=stop2).state == "cancelled"


def test_lost_lease_refuses_checkpoints(open_session: Opener, submit: Any,
                                        registry: BlockRegistry, settings: Settings,
                                        probe: Probe) -> None:
    run = submit(chain(3))

    def steal() -> None:  # another worker took the run over (reaped and re-claimed)
        with open_session() as s:
            s.execute(update(Run).where(col(Run.id) == run.id).values(lease_id="someone-else"))
            s.commit()

    probe.hooks["n2"] = steal
    out = _go(open_session, run, registry, settings)
    assert out.state is None and out.reason == "lease_lost"
    with open_session() as s:
        assert [n.node_id for n in node_runs.for_run(s, run.id)] == ["n1"]
    assert _row(open_session, run.id).state == "running"


def test_stale_lease_does_not_execute(open_session: Opener, session: Session, now: datetime,
                                      submit: Any, registry: BlockRegistry, settings: Settings,
                                      probe: Probe) -> None:
    run = submit(chain(2))
    lease = leases.claim(session, run.id, now, "rt-1")
    assert lease is not None
    leases.release(session, {run.id: lease.lease_id}, now)
    # A lease fresh from its claim carries the run as the claim read it and is trusted;
    # a lease without it (held a while, handed over) is checked before anything runs.
    out = execute(open_session, dataclasses.replace(lease, claimed=None), registry=registry,
                  settings=settings)
    assert out.state is None and out.reason == "lease_lost" and probe.calls == {}


def test_failing_node_fails_the_run(open_session: Opener, submit: Any,
                                    registry: BlockRegistry, settings: Settings) -> None:
    definition = {
        "id": "boom",
        "nodes": [{"id": "ok", "block": "constant", "inputs": {"value": 1}},
                  {"id": "bad", "block": "failing", "inputs": {"message": "kaput"}}],
        "links": [{"source": "ok.value", "sink": "bad.value"}],
    }
    run = submit(definition)
    out = _go(open_session, run, registry, settings)
    row = _row(open_session, run.id)
    assert out.state == row.state == "failed" and row.error_code == RUN_NODE_FAILED
    assert "node 'bad'" in (row.error_detail or "") and "kaput" in (row.error_detail or "")
    assert row.node_count == 2 and row.node_error_count == 1
    with open_session() as s:
        states = {n.node_id: (n.state, n.error) for n in node_runs.for_run(s, run.id)}
    assert states["ok"] == ("completed", None)
    assert states["bad"][0] == "failed" and "kaput" in (states["bad"][1] or "")


def test_missing_graph_fails_with_invalid_graph(open_session: Opener, session: Session,
                                                now: datetime, registry: BlockRegistry,
                                                settings: Settings) -> None:
    run = make_run(session, now, graph_id="nope", graph_version=9)
    out = _go(open_session, run, registry, settings)
    row = _row(open_session, run.id)
    assert out.state == row.state == "failed" and row.error_code == RUN_INVALID_GRAPH


def test_wrong_inputs_fail_with_invalid_graph(open_session: Opener, submit: Any,
                                              registry: BlockRegistry,
                                              settings: Settings) -> None:
    definition = {
        "id": "typed",
        "inputs": {"n": {"type": "integer", "required": True, "targets": ["c.value"]}},
        "nodes": [{"id": "c", "block": "constant"}],
    }
    run = submit(definition, {"n": "seven"})
    assert _go(open_session, run, registry, settings).state == "failed"
    row = _row(open_session, run.id)
    assert row.error_code == RUN_INVALID_GRAPH and "expected integer" in (row.error_detail or "")


def test_event_data_is_capped(open_session: Opener, submit: Any, registry: BlockRegistry,
                              settings: Settings) -> None:
    big = "x" * 5000
    definition = {"id": "big", "nodes": [
        {"id": "c", "block": "constant", "inputs": {"value": big}},
        {"id": "d", "block": "count"}], "links": [{"source": "c.value", "sink": "d.value"}]}
    run = submit(definition)
    capped = settings.model_copy(update={"event_data_cap_bytes": 1024})
    assert _go(open_session, run, registry, capped).state == "completed"
    with open_session() as s:
        ev = run_store.events(s, run.id, kind="output")[0]
    assert ev.data["truncated"] is True and ev.data["size"] == len(big) + 2
    assert len(str(ev.data["preview"]).encode()) <= 1024
    # the value itself flowed on whole
    assert _row(open_session, run.id).outputs == {"d.value": big}


def test_reexecution_after_completion_is_not_claimable(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings,
        now: datetime) -> None:
    run = submit(chain(2))
    assert _go(open_session, run, registry, settings).state == "completed"
    again = _go(open_session, run, registry, settings, clock=lambda: now + timedelta(hours=1))
    assert again.state is None and again.reason == "not_claimed"


def _grouped(open_session: Opener, run: Run, registry: BlockRegistry, settings: Settings,
             writer: RunWriter) -> Any:
    """Claim ``run`` and execute it with ``writer`` (a worker's: group commit), then close it."""
    with open_session() as s:
        lease = leases.claim(s, run.id, datetime.now(UTC), "rt-1")
    assert lease is not None
    try:
        return execute(open_session, lease, registry=registry, settings=settings, writer=writer)
    finally:
        writer.close()


def test_a_run_of_inline_blocks_is_written_once_with_its_finish(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings) -> None:
    """Checkpoints of blocks run on the run's own thread are held back and go with the
    finish: one write, one transaction, every node run and event in it."""
    run = submit(delay_chain("inline3", [0, 0]))
    writer = RunWriter(open_session, window_s=0.5)
    out = _grouped(open_session, run, registry, settings, writer)
    assert out.state == "completed" and out.executed == 3
    assert (writer.writes, writer.batches) == (1, 1)
    with open_session() as s:
        assert [n.node_id for n in node_runs.for_run(s, run.id)] == ["a", "b", "c"]
        assert len(run_store.events(s, run.id, kind="output")) == 3
    assert _row(open_session, run.id).state == "completed"


def test_checkpoints_held_back_are_committed_before_the_flow_waits_on_a_block(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings,
        probe: Probe) -> None:
    """A checkpoint never waits on a block running on another thread: n1's is committed
    while n2 (a block that waits) still runs."""
    run = submit(chain(2, sleep_s=0.0))
    seen: list[bool] = []

    def look_for_n1() -> None:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            with open_session() as s:
                if [n.node_id for n in node_runs.for_run(s, run.id)] == ["n1"]:
                    seen.append(True)
                    return
            time.sleep(0.02)
        seen.append(False)

    probe.hooks["n2"] = look_for_n1
    out = _grouped(open_session, run, registry, settings, RunWriter(open_session, window_s=0.05))
    assert out.state == "completed"
    assert seen == [True]



def test_a_graph_deleted_and_added_again_never_reuses_a_version_its_runs_name(
        open_session: Opener, session: Session, submit: Any, registry: BlockRegistry,
        settings: Settings, now: datetime) -> None:
    """Runs outlive their graph's deletion: the graph added again under its id continues
    after their version, so the old run's version names nothing (not the new definition),
    and the new run runs the new definition in a process that ran the old one."""
    from fleet.graphs.service import delete_graph

    old = {"id": "again", "nodes": [{"id": "n", "block": "constant", "inputs": {"value": "old"}}],
           "links": []}
    first = submit(old)
    assert _go(open_session, first, registry, settings).state == "completed"
    assert _row(open_session, first.id).outputs == {"n.value": "old"}
    assert delete_graph(session, "alice", "again", now) == 1
    new = {**old, "nodes": [{"id": "n", "block": "constant", "inputs": {"value": "new"}}]}
    second = submit(new)
    assert (first.graph_version, second.graph_version) == (1, 2)
    assert _go(open_session, second, registry, settings).state == "completed"
    assert _row(open_session, second.id).outputs == {"n.value": "new"}
    with open_session() as s:
        assert graphs.get(s, "alice", "again", 1) is None


def test_a_version_number_given_again_is_parsed_again(
        open_session: Opener, session: Session, submit: Any, registry: BlockRegistry,
        settings: Settings, now: datetime) -> None:
    """Once no run names a deleted graph's version, the graph added again starts at 1
    again: a process that parsed the old version 1 runs the new one, not its cached parse."""
    from fleet.graphs.service import delete_graph

    old = {"id": "reused", "nodes": [{"id": "n", "block": "constant",
                                      "inputs": {"value": "old"}}], "links": []}
    first = submit(old)
    assert _go(open_session, first, registry, settings).state == "completed"
    assert delete_graph(session, "alice", "reused", now) == 1
    session.execute(sa_delete(Run).where(col(Run.id) == first.id))  # as retention would
    session.commit()
    new = {**old, "nodes": [{"id": "n", "block": "constant", "inputs": {"value": "new"}}]}
    second = submit(new)
    assert second.graph_version == first.graph_version == 1
    assert _go(open_session, second, registry, settings).state == "completed"
    assert _row(open_session, second.id).outputs == {"n.value": "new"}
