"""Block cost declarations, execution costs in memory, and score_output validation."""

from __future__ import annotations

import math
from typing import Any

import pytest

from fleet.engine import costs, scores
from fleet.engine.blocks.files import WriteFileBlock
from fleet.engine.blocks.http import HttpRequestBlock
from fleet.engine.blocks.registry import BlockRegistry, builtin_blocks, default_registry
from fleet.engine.definition import parse
from fleet.engine.memory import run_in_memory
from fleet.engine.validate import graph_problems
from fleet.errors import InvalidInput
from tests.helpers import PassThrough

REG = default_registry()


class Echo(PassThrough):
    id = "echo"


class Fixed(Echo):
    id = "fixed"
    cost = 0.5


class PerItem(Echo):
    id = "per_item"

    def cost_of(self, inputs: Any, outputs: list[tuple[str, Any]]) -> float:
        """0.1 per element of the list passed on."""
        return 0.1 * sum(len(v) for _, v in outputs if isinstance(v, list))


def test_declarations_fixed_and_computed() -> None:
    assert costs.declaration(Echo).to_dict() == {"kind": "fixed", "amount": 0.0,
                                                 "description": ""}
    assert str(costs.declaration(Fixed)) == "0.5 per execution"
    computed = costs.declaration(PerItem)
    assert computed.to_dict() == {"kind": "computed", "amount": None,
                                  "description": "0.1 per element of the list passed on."}
    assert str(computed) == "computed: 0.1 per element of the list passed on."
    assert Fixed.describe()["cost"] == {"kind": "fixed", "amount": 0.5, "description": ""}


def test_builtin_costs() -> None:
    declared = {b.id: costs.declaration(b) for b in builtin_blocks()}
    assert declared["http_request"].amount == 1.0
    assert declared["write_file"].kind == "computed"
    assert declared["subgraph"].description.startswith("The nested graph's executions' costs")
    assert all(d.kind == "fixed" and d.amount == 0.0 for bid, d in declared.items()
               if bid not in ("http_request", "write_file", "subgraph"))
    block = WriteFileBlock()
    model = WriteFileBlock.Input(name="a.txt", content="x")
    assert costs.execution_cost(block, model, [("artifact", {"size": 10})]) == 1.0
    assert costs.execution_cost(block, model, [("artifact", {"size": 3 * 2**20 + 1})]) == 4.0
    assert costs.failure_cost(block, model) == 0.0  # nothing was stored
    assert costs.failure_cost(HttpRequestBlock(), None) == 0.0  # never ran: invalid inputs


@pytest.mark.parametrize("bad", [-1, math.inf, math.nan, "1", True, None])
def test_registry_refuses_an_unusable_fixed_cost(bad: Any) -> None:
    block = type("Bad", (Echo,), {"id": "bad", "cost": bad})
    with pytest.raises(InvalidInput, match="block 'bad': cost must be"):
        BlockRegistry([block])


def test_in_memory_results_sum_costs_per_execution() -> None:
    reg = BlockRegistry([*builtin_blocks(), Fixed, PerItem])
    result = run_in_memory({
        "id": "priced",
        "nodes": [{"id": "items", "block": "constant", "inputs": {"items": [[1, 2], [3]]}},
                  {"id": "f", "block": "fixed"},
                  {"id": "p", "block": "per_item"}],
        "links": [{"source": "items.value", "sink": "f.value"},
                  {"source": "f.value", "sink": "p.value"}],
    }, registry=reg)
    assert result.status == "completed"
    by_node: dict[str, float] = {}
    for f in result.finished:
        by_node[f.execution.node_id] = by_node.get(f.execution.node_id, 0) + f.cost
    assert by_node == pytest.approx({"items": 0.0, "f": 1.0, "p": 0.3})
    assert result.cost == pytest.approx(1.3)


def test_a_subgraph_node_costs_what_its_nested_executions_cost() -> None:
    reg = BlockRegistry([*builtin_blocks(), Fixed])
    inner = {"id": "inner", "inputs": {"v": {"type": "any", "targets": ["a.value"]}},
             "nodes": [{"id": "a", "block": "fixed"}, {"id": "b", "block": "fixed"}],
             "links": [{"source": "a.value", "sink": "b.value"}],
             "outputs": {"out": "b.value"}}
    nested = {"id": "nested", "inputs": {"v": {"type": "any", "targets": ["c.value"]}},
              "nodes": [{"id": "c", "block": "fixed"},
                        {"id": "deeper", "block": "subgraph", "inputs": {"graph": inner}}],
              "links": [{"source": "c.value", "sink": "deeper.inputs"}],
              "outputs": {"out": "deeper.outputs"}}
    result = run_in_memory({
        "id": "outer",
        "nodes": [{"id": "sub", "block": "subgraph",
                   "inputs": {"graph": nested, "inputs": {"v": {"v": 1}}}},
                  {"id": "after", "block": "fixed"}],
        "links": [{"source": "sub.outputs", "sink": "after.value"}],
    }, registry=reg)
    assert result.status == "completed", result.error
    by_node = {f.execution.node_id: f.cost for f in result.finished}
    assert by_node == pytest.approx({"sub": 1.5, "after": 0.5})  # c, then a and b inside
    assert result.cost == pytest.approx(2.0)
    failing = {"id": "f", "nodes": [{"id": "x", "block": "fixed", "inputs": {"value": 1}},
                                    {"id": "y", "block": "failing"}],
               "links": [{"source": "x.value", "sink": "y.value"}]}
    failed = run_in_memory({"id": "outer2", "nodes": [
        {"id": "sub", "block": "subgraph", "inputs": {"graph": failing}}]}, registry=reg)
    assert failed.status == "failed" and failed.cost == pytest.approx(0.5)


def test_a_raising_cost_function_fails_the_node() -> None:
    class Broken(Echo):
        id = "broken"

        def cost_of(self, inputs: Any, outputs: list[tuple[str, Any]]) -> float:
            raise KeyError("tokens")

    reg = BlockRegistry([Broken])
    result = run_in_memory({"id": "b", "nodes": [{"id": "b", "block": "broken"}]},
                           registry=reg)
    assert result.status == "failed"
    assert "the cost of block 'broken' could not be computed: KeyError: 'tokens'" in (
        result.error or "")
    assert result.cost == 0.0


def _graph(**extra: Any) -> dict[str, Any]:
    return {"id": "g", "nodes": [{"id": "pick", "block": "json_field",
                                  "inputs": {"data": {"s": 1}, "path": "s"}},
                                 {"id": "say", "block": "template",
                                  "inputs": {"template": "hi"}}],
            "outputs": {"score": "pick.value", "text": "say.text"}, **extra}


def test_score_output_validation() -> None:
    assert graph_problems(_graph(score_output="score"), REG) == []
    assert graph_problems(_graph(score_output="nope"), REG) == [
        "graph: score_output 'nope' is not one of the graph's outputs (outputs: score, text); "
        "name an output listed under 'outputs'"]
    assert graph_problems(_graph(score_output="text"), REG) == [
        "graph: score_output 'text' is say.text of type str; a correctness score must be a "
        "number from 0 to 1"]
    assert graph_problems(_graph(score_output=3), REG) == [
        "graph: score_output must be the name of one of the graph's outputs, got 3"]
    no_outputs = _graph(score_output="score")
    del no_outputs["outputs"]
    assert graph_problems(no_outputs, REG) == [
        "graph: score_output 'score' is not one of the graph's outputs (outputs: none "
        "declared); name an output listed under 'outputs'"]


@pytest.mark.parametrize(("value", "expected"), [
    (0, scores.Score(0.0)), (1, scores.Score(1.0)), (0.25, scores.Score(0.25)),
    (1.01, scores.Score(problem="correctness score not stored: output 'score' is 1.01, "
                                "outside 0 to 1")),
    (math.nan, scores.Score(problem="correctness score not stored: output 'score' is nan, "
                                    "outside 0 to 1")),
    ([1], scores.Score(problem="correctness score not stored: output 'score' is list [1], "
                               "not a number")),
])
def test_judge(value: Any, expected: scores.Score) -> None:
    graph, _ = parse(_graph(score_output="score"))
    assert scores.judge(graph, {"score": value}) == expected
    plain, _ = parse(_graph())
    assert scores.judge(plain, {"score": value}) == scores.Score()
