"""``delay``: wait, then pass the value on (interrupted by cancel and timeout)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from fleet.engine.blocks.base import Block, BlockContext


class DelayBlock(Block):
    """Wait ``seconds`` then emit ``value``; a stopped run cuts the wait short."""

    id = "delay"
    description = "Wait a number of seconds, then pass the value on."

    class Input(BaseModel):
        seconds: float = Field(ge=0, description="How long to wait.")
        value: Any = Field(None, description="Passed on after the wait.")

    class Output(BaseModel):
        value: Any = Field(None, description="The value, after the wait.")

    @classmethod
    def runs_inline(cls, inputs: dict[str, Any]) -> bool:
        """A zero delay never waits: it is a pass-through, run on the run's own thread."""
        return inputs.get("seconds") in (0, 0.0)

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        if not ctx.sleep(inputs.seconds):
            raise InterruptedError("delay interrupted: the run was stopped")
        yield "value", inputs.value
