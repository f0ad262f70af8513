"""Graph validation reports every problem, with node and pin; graph inputs are checked."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fleet.engine.blocks.registry import default_registry
from fleet.engine.definition import parse
from fleet.engine.validate import check_inputs, find_cycle, types_compatible, validate_graph
from fleet.errors import InvalidInput

REG = default_registry()


def problems_of(definition: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidInput) as info:
        validate_graph(definition, REG)
    return info.value.problems


def test_valid_graph_passes() -> None:
    validate_graph({
        "id": "ok",
        "inputs": {"who": {"type": "string", "required": True, "targets": ["greet.value"]}},
        "nodes": [{"id": "greet", "block": "template", "inputs": {"template": "hi {value}"}},
                  {"id": "pick", "block": "json_field", "inputs": {"path": "a"}}],
        "links": [{"source": "greet.text", "sink": "pick.data"}],
    }, REG)


def test_three_problems_reported_at_once() -> None:
    problems = problems_of({
        "id": "bad",
        "nodes": [
            {"id": "a", "block": "no_such_block"},
            {"id": "b", "block": "constant", "inputs": {"value": 1}},
            {"id": "c", "block": "template"},  # required 'template' missing
        ],
        "links": [{"source": "b.nope", "sink": "c.value"}],  # unknown pin
    })
    assert len(problems) == 3, problems
    assert any("node 'a'" in p and "unknown block 'no_such_block'" in p for p in problems)
    assert any("node 'b' pin 'nope'" in p and "no output pin" in p for p in problems)
    assert any("node 'c' pin 'template'" in p and "required input is missing" in p
               for p in problems)


def test_type_mismatch_and_cycle() -> None:
    problems = problems_of({
        "id": "loops",
        "nodes": [
            {"id": "t", "block": "template", "inputs": {"template": "x"}},
            {"id": "d", "block": "delay"},
            {"id": "x", "block": "constant"},
            {"id": "y", "block": "constant"},
        ],
        "links": [
            {"source": "t.text", "sink": "d.seconds"},  # str into float
            {"source": "x.value", "sink": "y.value"},
            {"source": "y.value", "sink": "x.value"},
        ],
    })
    assert len(problems) == 2, problems
    assert "node 'd' pin 'seconds': type mismatch, str cannot flow into float" in problems[0]
    assert problems[1].startswith("cycle: x -> y -> x")


def test_static_value_of_wrong_type_and_unknown_static_pin() -> None:
    problems = problems_of({"id": "s", "nodes": [
        {"id": "d", "block": "delay", "inputs": {"seconds": "soon", "colour": 1}}]})
    assert any("node 'd' pin 'seconds': static value 'soon'" in p for p in problems)
    assert any("node 'd' pin 'colour'" in p and "no input pin" in p for p in problems)


def test_structural_problems() -> None:
    problems = problems_of({"nodes": [{"id": "a", "block": "constant"},
                                      {"id": "a", "block": "constant"}],
                            "links": [{"source": "nodot", "sink": "zz.value"}],
                            "outputs": {"o": "a.missing"}, "timeout_s": -1})
    text = "\n".join(problems)
    for expected in ("'id' is required", "duplicate node id", "'nodot' is not of the form",
                     "timeout_s must be a positive number", "graph output 'o'"):
        assert expected in text


def test_types_compatible_rules() -> None:
    assert types_compatible(int, float) and types_compatible(str, Any)
    assert types_compatible(Any, int) and types_compatible(int | None, int)
    assert not types_compatible(str, int) and not types_compatible(dict, list)
    assert types_compatible(list[int], list[str])  # element types are checked at run time


def test_find_cycle_none_on_dag() -> None:
    graph, _ = parse({"id": "g", "nodes": [{"id": "a", "block": "constant"},
                                            {"id": "b", "block": "constant"}],
                      "links": [{"source": "a.value", "sink": "b.value"}]})
    assert find_cycle(graph) is None


GRAPH_WITH_INPUTS = {
    "id": "typed",
    "inputs": {"n": {"type": "integer", "required": True, "targets": ["c.value"]},
               "tag": {"type": "string", "default": "x", "targets": ["c.value"]}},
    "nodes": [{"id": "c", "block": "constant"}],
}


def test_check_inputs_accepts_good_inputs() -> None:
    check_inputs(GRAPH_WITH_INPUTS, {"n": 3}, REG)
    check_inputs(GRAPH_WITH_INPUTS, {"n": 3, "tag": "y"}, REG)


def test_check_inputs_reports_every_problem() -> None:
    with pytest.raises(InvalidInput) as info:
        check_inputs(GRAPH_WITH_INPUTS, {"tag": 5, "extra": 1}, REG)
    text = "\n".join(info.value.problems)
    assert "input 'extra': the graph has no such input" in text
    assert "input 'n': required and not given" in text
    assert "input 'tag': expected string, got int" in text
    with pytest.raises(InvalidInput) as info:
        check_inputs(GRAPH_WITH_INPUTS, {"n": True}, REG)
    assert info.value.problems == ["input 'n': expected integer, got bool True"]


def test_a_definition_run_again_is_parsed_once_and_an_edit_is_parsed_anew() -> None:
    from fleet.engine.validate import parse_valid_cached

    registry = default_registry()
    definition = {"id": "cached", "nodes": [{"id": "a", "block": "constant",
                                              "inputs": {"value": 1}}], "links": []}
    first = parse_valid_cached(definition, registry)
    assert parse_valid_cached(json.loads(json.dumps(definition)), registry) is first
    edited = {**definition, "nodes": [{"id": "a", "block": "constant", "inputs": {"value": 2}}]}
    assert parse_valid_cached(edited, registry) is not first
    assert parse_valid_cached(definition, default_registry()) is not first  # another registry
    broken = {**definition, "nodes": [{"id": "a", "block": "no_such_block"}]}
    for _ in range(2):  # refused each time, never remembered
        with pytest.raises(InvalidInput):
            parse_valid_cached(broken, registry)
