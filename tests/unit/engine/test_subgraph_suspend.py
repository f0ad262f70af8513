"""Approval and tool nodes inside sub-graphs park the sub-graph node with its nested state;
running it again with the decision replays what the sub-graph finished."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from fleet.clock import utcnow
from fleet.engine import suspension
from fleet.engine.blocks.base import BlockContext
from fleet.engine.blocks.registry import BlockRegistry, builtin_blocks
from fleet.engine.dataflow import Checkpoint, Dataflow, DataflowResult
from fleet.engine.validate import parse_valid
from tests.helpers import PassThrough

CALLS: dict[str, int] = {}
LOCK = threading.Lock()


class Tally(PassThrough):
    """Counts its executions by node id; passes the value on."""

    id = "tally"
    description = "counts"

    def run(self, inputs: PassThrough.Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        with LOCK:
            CALLS[ctx.node_id] = CALLS.get(ctx.node_id, 0) + 1
        yield "value", inputs.value


REG = BlockRegistry([*builtin_blocks(), Tally])

INNER = {
    "id": "inner",
    "inputs": {"x": {"type": "any", "required": True, "targets": ["prep.value"]}},
    "nodes": [{"id": "prep", "block": "tally"},
              {"id": "ok", "block": "approval", "inputs": {"message": "go on?"}},
              {"id": "post", "block": "tally"}],
    "links": [{"source": "prep.value", "sink": "ok.data"},
              {"source": "ok.data", "sink": "post.value"}],
    "outputs": {"y": "post.value"},
}


def parent(inner: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "outer",
        "nodes": [{"id": "before", "block": "tally", "inputs": {"value": "payload"}},
                  {"id": "sub", "block": "subgraph", "inputs": {"graph": inner}},
                  {"id": "after", "block": "tally"}],
        "links": [{"source": "before.value", "sink": "sub.inputs"},
                  {"source": "sub.outputs", "sink": "after.value"}],
        "outputs": {"out": "after.value"},
    }


def run(definition: dict[str, Any], checkpoints: dict[str, Checkpoint] | None = None,
        resumes: dict[str, dict[str, Any]] | None = None) -> DataflowResult:
    return Dataflow(parse_valid(definition, REG), {}, REG, run_id="outer", concurrency=2,
                    clock=utcnow, checkpoints=checkpoints, resumes=resumes).run()


def finished_checkpoints(result: DataflowResult) -> dict[str, Checkpoint]:
    return {f.execution.key: Checkpoint(list(f.outputs), f.started_at, f.ended_at)
            for f in result.finished if f.status == "completed"}


def test_an_approval_inside_a_sub_graph_parks_and_resumes_without_redoing() -> None:
    CALLS.clear()
    # the sub-graph's input is {"x": "payload"} once before has run
    definition = parent(INNER)
    definition["nodes"][0]["inputs"]["value"] = {"x": "payload"}
    first = run(definition)
    assert first.status == "suspended"
    parked = first.suspended
    assert parked is not None and parked.execution.node_id == "sub"
    assert parked.suspend is not None and parked.suspend.state == "waiting_approval"
    assert parked.suspend.reason == "sub-graph node 'ok': go on?"
    state = parked.suspend.resume
    assert suspension.is_level(state) and state["node"] == "ok"
    assert suspension.request(state)["message"] == "go on?"
    assert suspension.path("sub", state) == "sub/ok"
    assert [k.split(":")[0] for k in state["checkpoints"]] == ["prep"]
    assert CALLS == {"before": 1, "prep": 1}

    node_state, outputs, decided = suspension.decide(
        state, suspension.request(state)["on_approve"])
    assert node_state == suspension.RESUMED and outputs is None and decided is not None
    second = run(definition, finished_checkpoints(first), {parked.execution.key: decided})
    assert second.status == "completed", second.error
    assert second.outputs == {"out": {"y": "payload"}}
    # before and prep ran once in all; post and after ran once, after the approval
    assert CALLS == {"before": 1, "prep": 1, "post": 1, "after": 1}


def test_nested_two_levels_deep_and_a_tool() -> None:
    CALLS.clear()
    tool_inner = {
        "id": "deepest",
        "nodes": [{"id": "pre", "block": "tally", "inputs": {"value": {"q": 1}}},
                  {"id": "ask", "block": "tool", "inputs": {"tool": "search"}}],
        "links": [{"source": "pre.value", "sink": "ask.args"}],
        "outputs": {"r": "ask.result"},
    }
    middle = {"id": "middle",
              "nodes": [{"id": "m0", "block": "tally", "inputs": {"value": 0}},
                        {"id": "deep", "block": "subgraph", "inputs": {"graph": tool_inner}}],
              "links": [{"source": "m0.value", "sink": "deep.inputs"}],
              "outputs": {"r": "deep.outputs"}}
    middle["nodes"][0]["inputs"]["value"] = {}
    definition = parent(middle)
    definition["nodes"][0]["inputs"]["value"] = {}
    first = run(definition)
    assert first.status == "suspended" and first.suspended is not None
    state = first.suspended.suspend.resume if first.suspended.suspend else None
    assert suspension.path("sub", state) == "sub/deep/ask"
    assert suspension.request(state)["result_pin"] == "result"
    node_state, _, decided = suspension.decide(state, [["result", {"hits": 3}]])
    assert node_state == "resumed" and decided is not None
    assert state is not None and "decided" not in state["inner"]  # the original is unchanged
    assert CALLS == {"before": 1, "m0": 1, "pre": 1}
    second = run(definition, finished_checkpoints(first),
                 {first.suspended.execution.key: decided})
    assert second.status == "completed", second.error
    assert second.outputs == {"out": {"r": {"r": {"hits": 3}}}}
    assert CALLS == {"before": 1, "m0": 1, "pre": 1, "after": 1}


def test_without_a_decision_the_sub_graph_parks_again_on_the_same_node() -> None:
    # without a decision the sub-graph parks again on the same node (nothing redone)
    CALLS.clear()
    definition = parent(INNER)
    definition["nodes"][0]["inputs"]["value"] = {"x": 1}
    first = run(definition)
    assert first.suspended is not None and first.suspended.suspend is not None
    again = run(definition, finished_checkpoints(first),
                {first.suspended.execution.key: first.suspended.suspend.resume})
    assert again.status == "suspended"
    assert CALLS == {"before": 1, "prep": 1}
