"""Every example graph validates, and those without waits run offline to completion."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.engine.blocks.registry import default_registry
from fleet.engine.memory import run_in_memory
from fleet.engine.validate import validate_graph
from fleet.graphs.files import load_graph_file

EXAMPLES = sorted((Path(__file__).parents[3] / "examples").glob("*.*"))
REG = default_registry()


def test_examples_exist() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates(path: Path) -> None:
    validate_graph(load_graph_file(path), REG)


def test_hello() -> None:
    result = run_in_memory(load_graph_file(EXAMPLES[0].parent / "hello.yaml"), registry=REG)
    assert result.outputs == {"greeting": "Hello, world!"}


def test_fan_out_fan_in() -> None:
    d = load_graph_file(EXAMPLES[0].parent / "fan_out_fan_in.yaml")
    result = run_in_memory(d, registry=REG)
    assert result.status == "completed", result.error
    assert result.outputs["sentence"] == "ada speaks en"
    assert sum(1 for f in result.finished if f.execution.node_id == "shout") == 3


def test_branch_example() -> None:
    d = load_graph_file(EXAMPLES[0].parent / "branch.json")
    assert run_in_memory(d, {"score": 0.7}, registry=REG).outputs == {"pass.text": "pass (0.7)"}
    assert run_in_memory(d, {"score": 0.2}, registry=REG).outputs == {"fail.text": "fail (0.2)"}


def test_subgraph_example() -> None:
    d = load_graph_file(EXAMPLES[0].parent / "subgraph.yaml")
    assert run_in_memory(d, registry=REG).outputs == {"greeting": "hi bob"}


def test_approval_example_suspends() -> None:
    d = load_graph_file(EXAMPLES[0].parent / "approval.yaml")
    result = run_in_memory(d, registry=REG)
    assert result.status == "suspended" and result.suspended is not None
    assert result.suspended.execution.node_id == "review"
