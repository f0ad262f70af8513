"""``tool``: ask an external tool for a result; the run waits in ``waiting_tool``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from fleet.engine.blocks.base import Block, BlockContext, Suspend


class ToolCallBlock(Block):
    """Suspend the run until the tool's result is posted; then emit it on ``result``."""

    id = "tool"
    inline = True  # never waits
    description = ("External tool call: the run waits (holding no worker) until the tool's "
                   "result is delivered, then emits it on result.")

    class Input(BaseModel):
        tool: str = Field(description="The tool's name.")
        args: dict[str, Any] = Field(default_factory=dict, description="The tool's arguments.")

    class Output(BaseModel):
        result: Any = Field(None, description="The tool's result.")

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        raise Suspend("waiting_tool", f"waiting for tool {inputs.tool!r}", {
            "kind": "tool", "tool": inputs.tool, "args": inputs.args, "result_pin": "result",
        })
        yield  # pragma: no cover - makes this a generator like every block
