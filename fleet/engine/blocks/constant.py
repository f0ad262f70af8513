"""``constant``: emit a static value (or each item of a list) on ``value``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from fleet.engine.blocks.base import Block, BlockContext


class ConstantBlock(Block):
    """Emit ``value`` once, or each element of ``items`` in turn."""

    id = "constant"
    inline = True  # never waits
    description = "Emit a static value, or each element of a list (one execution downstream each)."

    class Input(BaseModel):
        value: Any = Field(None, description="The value to emit.")
        items: list[Any] | None = Field(None, description="When set, emit each element instead.")

    class Output(BaseModel):
        value: Any = Field(None, description="The value (or each item).")

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        if inputs.items is not None:
            for item in inputs.items:
                yield "value", item
        else:
            yield "value", inputs.value
