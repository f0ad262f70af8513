"""``subgraph``: run a nested graph definition in memory and emit its outputs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from fleet.engine.blocks.base import Block, BlockContext

MAX_DEPTH = 8


class SubGraphBlock(Block):
    """Execute ``graph`` with ``inputs``; emit the nested outputs as one dict."""

    id = "subgraph"
    description = ("Sub-graph: run a nested graph definition (same format as a graph file) "
                   "inside this node and emit its outputs.")

    class Input(BaseModel):
        graph: dict[str, Any] = Field(description="A graph definition.")
        inputs: dict[str, Any] = Field(default_factory=dict, description="Its graph inputs.")

    class Output(BaseModel):
        outputs: dict[str, Any] = Field(default_factory=dict, description="Its outputs.")

    def cost_of(self, inputs: Any, outputs: list[tuple[str, Any]]) -> float:
        """The nested graph's executions' costs (the engine adds them); nothing of its own."""
        return 0.0

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        if ctx.run_subgraph is None:
            raise RuntimeError("sub-graphs cannot run here: no engine was given to the block")
        if ctx.depth >= MAX_DEPTH:
            raise RuntimeError(f"sub-graphs nested deeper than {MAX_DEPTH} levels")
        yield "outputs", ctx.run_subgraph(inputs.graph, inputs.inputs)
