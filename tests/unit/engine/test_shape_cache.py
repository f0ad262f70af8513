"""What the engine derives from a parsed graph (its links, pins, order) is built once per
graph and registry, and built again when a block is registered since."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from fleet.engine import dataflow
from fleet.engine.blocks.base import Block, BlockContext
from fleet.engine.blocks.registry import BlockRegistry, builtin_blocks
from fleet.engine.definition import parse
from fleet.engine.memory import run_in_memory


class _Say(Block):
    description = "Says its word."
    inline = True
    word = ""

    class Input(BaseModel):
        value: Any = None

    class Output(BaseModel):
        value: Any = None

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        yield "value", self.word


class SayA(_Say):
    id = "say"
    word = "a"


class SayB(_Say):
    id = "say"
    word = "b"


GRAPH = {"id": "g", "nodes": [{"id": "n", "block": "say"}], "links": []}


def test_the_shape_is_built_once_per_parsed_graph_and_registry() -> None:
    registry = BlockRegistry([*builtin_blocks(), SayA])
    graph, problems = parse(GRAPH)
    assert not problems and graph is not None
    first = dataflow._shape(graph, registry)
    assert dataflow._shape(graph, registry) is first
    other = BlockRegistry([*builtin_blocks(), SayB])
    assert dataflow._shape(graph, other) is not first
    assert dataflow._shape(graph, other).blocks["n"] is SayB


def test_a_block_registered_since_is_the_one_that_runs() -> None:
    registry = BlockRegistry([*builtin_blocks(), SayA])
    assert run_in_memory(GRAPH, registry=registry).outputs == {"n.value": "a"}
    registry.register(SayB, replace=True)
    assert run_in_memory(GRAPH, registry=registry).outputs == {"n.value": "b"}
