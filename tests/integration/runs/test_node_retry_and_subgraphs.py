"""Through the real run lifecycle (SQLite and PostgreSQL): node retries recorded per attempt,
optional linked inputs, and approval / tool nodes waiting inside sub-graphs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from fleet.engine.blocks.registry import BlockRegistry
from fleet.runs import leases, resume
from fleet.runs.execute import StopSignal
from fleet.runs.inline import run_inline
from fleet.settings import Settings
from fleet.store import node_runs
from fleet.store import runs as run_store
from fleet.store.models import NodeRun, Run, RunEvent
from tests.integration.runs.conftest import Probe

Opener = Callable[[], Session]


def _run(open_session: Opener, run_id: str, registry: BlockRegistry, settings: Settings,
         at: datetime) -> Any:
    return run_inline(open_session, run_id, registry=registry, settings=settings,
                      clock=lambda: at)


def _rows(open_session: Opener, run_id: str) -> tuple[Run, list[NodeRun], list[RunEvent]]:
    with open_session() as s:
        run = run_store.get(s, run_id)
        assert run is not None
        return run, node_runs.for_run(s, run_id), run_store.events(s, run_id)


def retrying(retry: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "retrying",
        "nodes": [{"id": "before", "block": "count", "inputs": {"value": "v"}},
                  {"id": "flaky", "block": "failing", "inputs": {"fail_on_call": 1},
                   "retry": retry},
                  {"id": "after", "block": "count"}],
        "links": [{"source": "before.value", "sink": "flaky.value"},
                  {"source": "flaky.value", "sink": "after.value"}],
    }


def test_a_node_failing_once_completes_on_its_second_attempt_and_both_are_stored(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings,
        probe: Probe, now: datetime) -> None:
    run = submit(retrying({"max_attempts": 3, "backoff_s": 0}))
    out = _run(open_session, run.id, registry, settings, now)
    assert out.state == "completed", out.error
    row, nodes, events = _rows(open_session, run.id)
    assert row.outputs == {"after.value": "v"}
    flaky = sorted((n for n in nodes if n.node_id == "flaky"), key=lambda n: n.node_attempt)
    assert [(n.node_attempt, n.state, n.attempt) for n in flaky] == [(1, "failed", 1),
                                                                       (2, "completed", 1)]
    assert "failed on purpose (call 1)" in (flaky[0].error or "") and flaky[1].error is None
    assert flaky[0].exec_key == f"{flaky[1].exec_key}@1"
    retries = [e for e in events if e.kind == "retry"]
    assert len(retries) == 1 and retries[0].source_node == "flaky"
    assert "attempt 1 of 3 failed" in (retries[0].detail or "")
    assert probe.calls == {"before": 1, "after": 1}
    assert row.node_count == 4 and row.node_error_count == 1
    assert row.tracker is not None
    assert sorted(e["attempt"] for e in row.tracker["executions"]
                  if e["node_id"] == "flaky") == [1, 2]


def test_a_policy_whose_errors_do_not_match_fails_at_once(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings,
        now: datetime) -> None:
    run = submit(retrying({"max_attempts": 3, "backoff_s": 0, "errors": ["TimeoutError"]}))
    out = _run(open_session, run.id, registry, settings, now)
    assert out.state == "failed"
    row, nodes, events = _rows(open_session, run.id)
    assert row.error_code == "E-NODE-001"
    assert [(n.node_id, n.node_attempt, n.state) for n in nodes if n.node_id == "flaky"] \
        == [("flaky", 1, "failed")]
    assert not [e for e in events if e.kind == "retry"]


def test_a_resumed_run_replays_the_attempt_that_succeeded(
        open_session: Opener, session: Session, submit: Any, registry: BlockRegistry,
        settings: Settings, probe: Probe, now: datetime) -> None:
    definition = retrying({"max_attempts": 2, "backoff_s": 0})
    definition["nodes"].append({"id": "ok", "block": "approval"})
    definition["links"].append({"source": "after.value", "sink": "ok.data"})
    run = submit(definition)
    assert _run(open_session, run.id, registry, settings, now).state == "waiting_approval"
    resume.approve(session, run.id, now, user_id="alice")
    out = _run(open_session, run.id, registry, settings, now)
    assert out.state == "completed" and out.executed == 0
    _, nodes, _ = _rows(open_session, run.id)
    assert sorted((n.node_attempt, n.state) for n in nodes if n.node_id == "flaky") \
        == [(1, "failed"), (2, "completed")]


def test_an_optional_linked_input_proceeds_with_its_default(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings,
        now: datetime) -> None:
    run = submit({
        "id": "optional",
        "nodes": [{"id": "name", "block": "constant", "inputs": {"value": "Ada"}},
                  {"id": "gate", "block": "branch", "inputs": {"value": 0}},
                  {"id": "fmt", "block": "template", "inputs": {"template": "hi {value}"}}],
        "links": [{"source": "name.value", "sink": "fmt.value"},
                  {"source": "gate.true", "sink": "fmt.values"}],
        "outputs": {"text": "fmt.text"},
    })
    out = _run(open_session, run.id, registry, settings, now)
    assert out.state == "completed", out.error
    row, nodes, _ = _rows(open_session, run.id)
    assert row.outputs == {"text": "hi Ada"}
    assert [n.inputs for n in nodes if n.node_id == "fmt"] == [
        {"template": "hi {value}", "value": "Ada"}]


INNER_APPROVAL = {
    "id": "inner",
    "inputs": {"x": {"type": "any", "required": True, "targets": ["prep.value"]}},
    "nodes": [{"id": "prep", "block": "count"},
              {"id": "ok", "block": "approval", "inputs": {"message": "ship it?"}},
              {"id": "post", "block": "count"}],
    "links": [{"source": "prep.value", "sink": "ok.data"},
              {"source": "ok.data", "sink": "post.value"}],
    "outputs": {"y": "post.value"},
}


def nested(inner: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "outer",
        "nodes": [{"id": "before", "block": "count", "inputs": {"value": {"x": "payload"}}},
                  {"id": "sub", "block": "subgraph", "inputs": {"graph": inner}},
                  {"id": "after", "block": "count"}],
        "links": [{"source": "before.value", "sink": "sub.inputs"},
                  {"source": "sub.outputs", "sink": "after.value"}],
        "outputs": {"out": "after.value"},
    }


def test_an_approval_inside_a_sub_graph_parks_the_run_and_approve_resumes_it(
        open_session: Opener, session: Session, submit: Any, registry: BlockRegistry,
        settings: Settings, probe: Probe, now: datetime) -> None:
    run = submit(nested(INNER_APPROVAL))
    out = _run(open_session, run.id, registry, settings, now)
    row, nodes, _ = _rows(open_session, run.id)
    assert out.state == row.state == "waiting_approval", out.error
    assert row.lease_id is None
    assert row.waiting_reason == "node 'sub': sub-graph node 'ok': ship it?"
    assert probe.calls == {"before": 1, "prep": 1}
    sub = next(n for n in nodes if n.node_id == "sub")
    assert sub.state == "waiting_approval" and sub.resume and sub.resume["node"] == "ok"

    later = now + timedelta(minutes=3)
    resume.approve(session, run.id, later, user_id="alice")
    row, nodes, events = _rows(open_session, run.id)
    assert row.state == "queued" and row.attempt_count == 0
    assert next(n for n in nodes if n.node_id == "sub").state == "resumed"
    assert any(e.detail == "node 'sub/ok' approved by alice" for e in events)

    out = _run(open_session, run.id, registry, settings, later)
    row, nodes, _ = _rows(open_session, run.id)
    assert out.state == row.state == "completed", out.error
    assert row.outputs == {"out": {"y": "payload"}}
    # nothing finished was redone: before (parent) and prep (inside) ran once each
    assert probe.calls == {"before": 1, "prep": 1, "post": 1, "after": 1}
    assert out.replayed == 1 and out.executed == 2  # before replayed; sub and after ran
    assert sorted((n.node_id, n.state) for n in nodes) == [
        ("after", "completed"), ("before", "completed"), ("sub", "completed")]


def test_reject_inside_a_sub_graph_cancels_and_a_tool_result_is_delivered_by_path(
        open_session: Opener, session: Session, submit: Any, registry: BlockRegistry,
        settings: Settings, probe: Probe, now: datetime) -> None:
    rejected = submit(nested(INNER_APPROVAL))
    assert _run(open_session, rejected.id, registry, settings, now).state == "waiting_approval"
    resume.reject(session, rejected.id, now, user_id="alice", reason="no")
    row, _, _ = _rows(open_session, rejected.id)
    assert row.state == "cancelled" and "node 'sub/ok' rejected by alice: no" in (
        row.error_detail or "")

    tool_inner = {"id": "asks",
                  "nodes": [{"id": "ask", "block": "tool", "inputs": {"tool": "search"}}],
                  "outputs": {"r": "ask.result"}}
    definition = nested(tool_inner)
    definition["nodes"][0]["inputs"]["value"] = {}
    run = submit(definition)
    assert _run(open_session, run.id, registry, settings, now).state == "waiting_tool"
    resume.complete_tool(session, run.id, "sub/ask", {"hits": 2}, now, user_id="alice")
    out = _run(open_session, run.id, registry, settings, now)
    assert out.state == "completed", out.error
    assert _rows(open_session, run.id)[0].outputs == {"out": {"r": {"hits": 2}}}


def test_a_node_retried_across_a_stop_goes_on_from_its_next_attempt(
        open_session: Opener, session: Session, submit: Any, registry: BlockRegistry,
        settings: Settings, now: datetime) -> None:
    """The worker stops while the node waits for its retry; executed again, the node goes
    on from attempt 2 (the policy's limit holds across segments, each attempt keeps its
    own row)."""
    run = submit(retrying({"max_attempts": 2, "backoff_s": 30}))
    stop = StopSignal()
    threading.Timer(0.5, stop.request, args=("shutdown",)).start()
    out = run_inline(open_session, run.id, registry=registry, settings=settings,
                     clock=lambda: now, stop=stop)  # the clock stands still: the backoff waits
    assert out.state is None and out.reason == "shutdown"
    row, nodes, _ = _rows(open_session, run.id)
    assert [(n.node_id, n.node_attempt, n.state) for n in nodes if n.node_id == "flaky"] \
        == [("flaky", 1, "failed")]
    assert row.lease_id is not None
    # as the worker's graceful shutdown releases it: the segment's running time kept
    assert leases.release(session, {run.id: row.lease_id}, now,
                          ran_s={run.id: out.elapsed_s}) == [run.id]
    out = _run(open_session, run.id, registry, settings, now + timedelta(seconds=1))
    assert out.state == "completed", out.error
    _, nodes, _ = _rows(open_session, run.id)
    assert sorted((n.node_attempt, n.state) for n in nodes if n.node_id == "flaky") \
        == [(1, "failed"), (2, "completed")]
