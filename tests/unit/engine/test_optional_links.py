"""An optional linked input whose source never produces proceeds with its default."""

from __future__ import annotations

from typing import Any

from fleet.engine.blocks.registry import default_registry
from fleet.engine.dataflow import DataflowResult
from fleet.engine.memory import run_in_memory

REG = default_registry()


def gated(flag: Any, delay_s: float = 0.05) -> dict[str, Any]:
    """``fmt`` needs ``name`` (required pin value) and may get ``extra`` (optional values),
    which only comes when ``gate`` takes its true branch; ``gate`` finishes last."""
    return {
        "id": "gated",
        "nodes": [
            {"id": "name", "block": "constant", "inputs": {"value": "Ada"}},
            {"id": "slow", "block": "delay", "inputs": {"seconds": delay_s, "value": flag}},
            {"id": "gate", "block": "branch"},
            {"id": "fmt", "block": "template", "inputs": {"template": "hi {value}"}},
        ],
        "links": [{"source": "name.value", "sink": "fmt.value"},
                  {"source": "slow.value", "sink": "gate.value"},
                  {"source": "gate.true", "sink": "fmt.values"}],
        "outputs": {"text": "fmt.text"},
    }


def runs_of(result: DataflowResult, node: str) -> list[dict[str, Any]]:
    return [f.execution.inputs for f in result.finished if f.execution.node_id == node]


def test_the_source_took_the_other_branch_so_the_default_is_used() -> None:
    result = run_in_memory(gated(flag=None), registry=REG)
    assert result.status == "completed", result.error
    assert result.outputs == {"text": "hi Ada"}
    assert runs_of(result, "fmt") == [{"template": "hi {value}", "value": "Ada"}]


def test_a_source_that_produces_is_still_awaited() -> None:
    result = run_in_memory(gated(flag={"x": 1}), registry=REG)
    assert result.status == "completed", result.error
    # one execution, with the value that came late: not one with the default before it
    assert runs_of(result, "fmt") == [{"template": "hi {value}", "value": "Ada",
                                       "values": {"x": 1}}]


def test_the_release_waits_for_everything_upstream_of_the_source() -> None:
    # gate is fed through two nodes; fmt must not give up while they are still running
    graph = gated(flag={"x": 1}, delay_s=0.02)
    graph["nodes"].insert(0, {"id": "first", "block": "delay",
                              "inputs": {"seconds": 0.05, "value": {"y": 2}}})
    graph["links"] = [lk for lk in graph["links"] if lk["sink"] != "gate.value"]
    graph["links"] += [{"source": "first.value", "sink": "slow.value"},
                       {"source": "slow.value", "sink": "gate.value"}]
    graph["nodes"][2]["inputs"].pop("value")
    result = run_in_memory(graph, registry=REG)
    assert result.status == "completed", result.error
    assert [r.get("values") for r in runs_of(result, "fmt")] == [{"y": 2}]


def test_a_node_whose_only_links_never_produce_does_not_run() -> None:
    graph = gated(flag=None)
    graph["links"] = [lk for lk in graph["links"] if lk["sink"] != "fmt.value"]
    graph["nodes"][3]["inputs"]["value"] = "static"
    result = run_in_memory(graph, registry=REG)
    assert result.status == "completed"
    assert runs_of(result, "fmt") == []


def test_a_missing_required_pin_still_blocks_after_its_source_finished() -> None:
    graph = gated(flag=None)
    # fmt's template comes from a branch that is not taken: fmt never runs
    graph["nodes"][3]["inputs"] = {}
    graph["nodes"].append({"id": "t", "block": "branch", "inputs": {"value": ""}})
    graph["links"].append({"source": "t.true", "sink": "fmt.template"})
    result = run_in_memory(graph, registry=REG)
    assert result.status == "completed"
    assert runs_of(result, "fmt") == []


def test_a_source_being_retried_is_not_finished() -> None:
    # the source of the optional pin fails once and is retried: fmt waits for its value
    graph = gated(flag=None)
    graph["nodes"][1] = {"id": "slow", "block": "failing",
                         "inputs": {"value": {"x": 1}, "fail_on_call": 1},
                         "retry": {"max_attempts": 2, "backoff_s": 0.05}}
    result = run_in_memory(graph, registry=REG, run_id="retried-source")
    assert result.status == "completed", result.error
    assert [r.get("values") for r in runs_of(result, "fmt")] == [{"x": 1}]
