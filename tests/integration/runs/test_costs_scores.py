"""Costs and correctness scores on the durable path (SQLite and PostgreSQL).

A run's cost is the sum of its node runs' costs, each the block's fixed cost
or the result of its cost function; replayed nodes are not charged again. A
graph's ``score_output`` is stored as the run's correctness score when it is a
number from 0 to 1; otherwise a note says why and the run still completes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from sqlmodel import Session

from fleet.engine.blocks.base import Block, BlockContext
from fleet.engine.blocks.registry import BlockRegistry
from fleet.runs import reaper, resume
from fleet.runs.inline import run_inline
from fleet.settings import Settings
from fleet.store import node_runs
from fleet.store import runs as run_store
from fleet.store.models import Run
from tests.helpers import PassThrough
from tests.integration.runs.conftest import Probe, SimulatedCrash, make_registry

Opener = Callable[[], Session]


class PricedBlock(PassThrough):
    """A fixed cost of 0.25 per execution; passes its value on."""

    id = "priced"
    description = "Costs 0.25 per execution."
    cost = 0.25


class MeteredBlock(Block):
    """Cost from inputs and outputs: 0.01 per input character plus 0.1 per output."""

    id = "metered"
    description = "Emits its text once per word; costs by size."

    class Input(BaseModel):
        text: str

    class Output(BaseModel):
        word: str = ""

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        for word in inputs.text.split():
            yield "word", word

    def cost_of(self, inputs: Any, outputs: list[tuple[str, Any]]) -> float:
        """0.01 per input character plus 0.1 per word emitted."""
        return 0.01 * len(inputs.text) + 0.1 * len(outputs)


class PricedFailBlock(Block):
    """Costs 2 and always fails."""

    id = "priced_fail"
    description = "A billed call that fails."
    cost = 2.0

    class Input(BaseModel):
        value: Any = None

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        raise RuntimeError("the service said no")
        yield "never", None  # pragma: no cover


class FlakyPricedBlock(Block):
    """Costs 1 per call; its first call fails (a billed call that a retry repeats)."""

    id = "flaky_priced"
    description = "A billed call that fails once."
    cost = 1.0
    calls = 0  # calls so far (reset by the registry fixture)

    class Input(BaseModel):
        value: Any = None

    class Output(BaseModel):
        value: Any = None

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        FlakyPricedBlock.calls += 1
        if FlakyPricedBlock.calls == 1:
            raise RuntimeError("busy")
        yield "value", inputs.value


class BadCostBlock(PassThrough):
    """Its cost function answers a negative amount."""

    id = "bad_cost"
    description = "A block whose cost cannot be known."

    def cost_of(self, inputs: Any, outputs: list[tuple[str, Any]]) -> float:
        return -1.0


@pytest.fixture
def registry(probe: Probe) -> BlockRegistry:
    reg = make_registry(probe)
    FlakyPricedBlock.calls = 0
    for block in (PricedBlock, MeteredBlock, PricedFailBlock, BadCostBlock, FlakyPricedBlock):
        reg.register(block)
    return reg


def _row(open_session: Opener, run_id: str) -> Run:
    with open_session() as s:
        row = run_store.get(s, run_id)
        assert row is not None
        return row


def _node_costs(open_session: Opener, run_id: str) -> dict[str, float]:
    with open_session() as s:
        costs: dict[str, float] = {}
        for n in node_runs.for_run(s, run_id):
            costs[n.node_id] = costs.get(n.node_id, 0.0) + n.cost
        return costs


def _run(open_session: Opener, run_id: str, registry: BlockRegistry, settings: Settings,
         at: datetime, **kw: Any) -> Any:
    return run_inline(open_session, run_id, registry=registry, settings=settings,
                      clock=lambda: at, **kw)


PRICED = {
    "id": "priced-chain",
    "nodes": [
        {"id": "a", "block": "priced", "inputs": {"value": "two words"}},
        {"id": "b", "block": "count"},
        {"id": "c", "block": "priced"},
        {"id": "words", "block": "metered"},
        {"id": "echo", "block": "priced"},
    ],
    "links": [{"source": "a.value", "sink": "b.value"},
              {"source": "b.value", "sink": "c.value"},
              {"source": "c.value", "sink": "words.text"},
              {"source": "words.word", "sink": "echo.value"}],
}


def test_run_cost_is_the_sum_of_its_blocks_costs(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings,
        now: datetime) -> None:
    run = submit(PRICED)
    other = submit({**PRICED, "id": "priced-once", "nodes": PRICED["nodes"][:1], "links": []})
    out = _run(open_session, run.id, registry, settings, now)
    assert out.state == "completed"
    assert _run(open_session, other.id, registry, settings, now).state == "completed"
    # a, c: 0.25 each; b: 0; words: 0.01 * 9 characters + 0.1 * 2 words; echo runs twice.
    expected = {"a": 0.25, "b": 0.0, "c": 0.25, "words": 0.29, "echo": 0.5}
    assert _node_costs(open_session, run.id) == pytest.approx(expected)
    assert _row(open_session, run.id).cost == pytest.approx(1.29)
    assert _row(open_session, other.id).cost == pytest.approx(0.25)  # each run its own sum


def test_a_run_the_reaper_fails_costs_what_its_lost_segment_ran(
        open_session: Opener, session: Session, submit: Any, registry: BlockRegistry,
        settings: Settings, probe: Probe, now: datetime) -> None:
    run = submit({**PRICED, "max_attempts": 1})
    probe.crash_on["b"] = 1  # a was saved; the worker dies in b
    with pytest.raises(SimulatedCrash):
        _run(open_session, run.id, registry, settings, now)
    assert _row(open_session, run.id).cost == 0.0  # no finish was written
    later = now + timedelta(seconds=settings.lease_ttl_s + 1)
    assert reaper.run_once(session, later).failed == [run.id]
    row = _row(open_session, run.id)
    assert row.state == "failed" and row.cost == pytest.approx(0.25)
    assert _node_costs(open_session, run.id) == pytest.approx({"a": 0.25})


def test_replayed_nodes_are_not_charged_twice(
        open_session: Opener, session: Session, submit: Any, registry: BlockRegistry,
        settings: Settings, probe: Probe, now: datetime) -> None:
    run = submit(PRICED)
    probe.crash_on["b"] = 1  # the process dies while b runs, after a was saved
    with pytest.raises(SimulatedCrash):
        _run(open_session, run.id, registry, settings, now)
    assert _node_costs(open_session, run.id) == {"a": 0.25}

    later = now + timedelta(seconds=settings.lease_ttl_s + 1)
    assert reaper.run_once(session, later).requeued == [run.id]
    out = _run(open_session, run.id, registry, settings, later, runtime_id="other-worker")
    assert out.state == "completed" and out.replayed == 1
    assert _node_costs(open_session, run.id) == pytest.approx(
        {"a": 0.25, "b": 0.0, "c": 0.25, "words": 0.29, "echo": 0.5})
    assert _row(open_session, run.id).cost == pytest.approx(1.29)


def test_a_parked_run_keeps_its_cost_and_resuming_adds_only_new_nodes(
        open_session: Opener, session: Session, submit: Any, registry: BlockRegistry,
        settings: Settings, now: datetime) -> None:
    run = submit({
        "id": "priced-approval",
        "nodes": [{"id": "before", "block": "priced", "inputs": {"value": 1}},
                  {"id": "ok", "block": "approval", "inputs": {"message": "go?"}},
                  {"id": "after", "block": "priced"}],
        "links": [{"source": "before.value", "sink": "ok.data"},
                  {"source": "ok.data", "sink": "after.value"}],
    })
    assert _run(open_session, run.id, registry, settings, now).state == "waiting_approval"
    assert _row(open_session, run.id).cost == pytest.approx(0.25)
    resume.approve(session, run.id, now, user_id="alice")
    out = _run(open_session, run.id, registry, settings, now)
    assert out.state == "completed" and out.replayed == 2
    assert _row(open_session, run.id).cost == pytest.approx(0.5)
    assert sum(_node_costs(open_session, run.id).values()) == pytest.approx(0.5)


def test_a_failed_execution_is_charged_and_a_failed_run_has_its_cost(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings,
        now: datetime) -> None:
    run = submit({"id": "fails-billed",
                  "nodes": [{"id": "a", "block": "priced", "inputs": {"value": 1}},
                            {"id": "call", "block": "priced_fail"}],
                  "links": [{"source": "a.value", "sink": "call.value"}]})
    assert _run(open_session, run.id, registry, settings, now).state == "failed"
    assert _node_costs(open_session, run.id) == pytest.approx({"a": 0.25, "call": 2.0})
    assert _row(open_session, run.id).cost == pytest.approx(2.25)


def test_a_cost_that_cannot_be_known_fails_the_node_naming_the_block(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings,
        now: datetime) -> None:
    run = submit({"id": "bad-cost", "nodes": [{"id": "x", "block": "bad_cost",
                                               "inputs": {"value": 1}}]})
    assert _run(open_session, run.id, registry, settings, now).state == "failed"
    row = _row(open_session, run.id)
    assert "the cost of block 'bad_cost' must be a finite number >= 0" in (row.error_detail or "")
    assert row.cost == 0.0


SCORED = {
    "id": "scored",
    "inputs": {"score": {"type": "any", "targets": ["grade.value"]}},
    "nodes": [{"id": "grade", "block": "priced"}],
    "outputs": {"quality": "grade.value"},
    "score_output": "quality",
}


@pytest.mark.parametrize("value", [0, 0.75, 1])
def test_score_output_is_stored_as_the_correctness_score(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings,
        now: datetime, value: float) -> None:
    run = submit(SCORED, {"score": value})
    assert _run(open_session, run.id, registry, settings, now).state == "completed"
    row = _row(open_session, run.id)
    assert row.correctness_score == pytest.approx(value) and row.cost == pytest.approx(0.25)
    with open_session() as s:
        assert run_store.events(s, run.id, kind="note") == []


@pytest.mark.parametrize(("value", "why"), [
    (1.5, "output 'quality' is 1.5, outside 0 to 1"),
    (-0.1, "output 'quality' is -0.1, outside 0 to 1"),
    ("high", "output 'quality' is str 'high', not a number"),
    (True, "output 'quality' is bool True, not a number"),
])
def test_a_bad_score_is_not_stored_and_a_note_says_why(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings,
        now: datetime, value: Any, why: str) -> None:
    run = submit(SCORED, {"score": value})
    assert _run(open_session, run.id, registry, settings, now).state == "completed"
    row = _row(open_session, run.id)
    assert row.state == "completed" and row.correctness_score is None
    assert row.outputs == {"quality": value}
    with open_session() as s:
        notes = [e.detail for e in run_store.events(s, run.id, kind="note")]
    assert notes == [f"correctness score not stored: {why}"]


def test_a_score_output_never_produced_is_noted(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings,
        now: datetime) -> None:
    run = submit({"id": "maybe-scored",
                  "nodes": [{"id": "pick", "block": "json_field",
                             "inputs": {"data": {"a": 1}, "path": "b"}}],
                  "outputs": {"score": "pick.value", "missing": "pick.missing"},
                  "score_output": "score"})
    assert _run(open_session, run.id, registry, settings, now).state == "completed"
    assert _row(open_session, run.id).correctness_score is None
    with open_session() as s:
        notes = [e.detail for e in run_store.events(s, run.id, kind="note")]
    assert notes == ["correctness score not stored: output 'score' was never produced"]


def test_a_sub_graph_parked_by_an_approval_is_charged_before_and_after_once(
        open_session: Opener, session: Session, submit: Any, registry: BlockRegistry,
        settings: Settings, now: datetime) -> None:
    inner = {"id": "inner",
             "inputs": {"v": {"type": "any", "targets": ["before.value"]}},
             "nodes": [{"id": "before", "block": "priced"},
                       {"id": "ok", "block": "approval", "inputs": {"message": "go?"}},
                       {"id": "after", "block": "priced"}],
             "links": [{"source": "before.value", "sink": "ok.data"},
                       {"source": "ok.data", "sink": "after.value"}],
             "outputs": {"out": "after.value"}}
    run = submit({"id": "nested-priced",
                  "nodes": [{"id": "sub", "block": "subgraph",
                             "inputs": {"graph": inner, "inputs": {"v": 1}}},
                            {"id": "tail", "block": "priced"}],
                  "links": [{"source": "sub.outputs", "sink": "tail.value"}]})
    assert _run(open_session, run.id, registry, settings, now).state == "waiting_approval"
    assert _row(open_session, run.id).cost == pytest.approx(0.25)  # 'before' inside
    resume.approve(session, run.id, now, user_id="alice")
    assert _run(open_session, run.id, registry, settings, now).state == "completed"
    # 'before' is replayed, not charged again; 'after' and 'tail' are new.
    assert _node_costs(open_session, run.id) == pytest.approx({"sub": 0.5, "tail": 0.25})
    assert _row(open_session, run.id).cost == pytest.approx(0.75)


def test_each_attempt_of_a_retried_node_is_charged(
        open_session: Opener, submit: Any, registry: BlockRegistry, settings: Settings,
        now: datetime) -> None:
    run = submit({"id": "retried-priced",
                  "nodes": [{"id": "call", "block": "flaky_priced", "inputs": {"value": 1},
                             "retry": {"max_attempts": 3, "backoff_s": 0}}]})
    assert _run(open_session, run.id, registry, settings, now).state == "completed"
    with open_session() as s:
        attempts = sorted((n.node_attempt, n.state, n.cost) for n in node_runs.for_run(s, run.id))
    assert attempts == [(1, "failed", 1.0), (2, "completed", 1.0)]
    assert _row(open_session, run.id).cost == pytest.approx(2.0)
