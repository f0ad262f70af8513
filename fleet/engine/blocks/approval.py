"""``approval``: park the run in ``waiting_approval`` until a human decides."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from fleet.engine.blocks.base import Block, BlockContext, Suspend


class ApprovalBlock(Block):
    """Suspend the run; approving emits ``approved=True`` and passes ``data`` on."""

    id = "approval"
    inline = True  # never waits
    description = ("Human approval: the run waits (holding no worker) until approved, then "
                   "emits approved and data; rejecting cancels the run.")

    class Input(BaseModel):
        message: str = Field("approval required", description="What the approver is asked.")
        data: Any = Field(None, description="Passed on once approved.")

    class Output(BaseModel):
        approved: bool = Field(description="True once approved.")
        data: Any = Field(None, description="The data, once approved.")

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        raise Suspend("waiting_approval", inputs.message, {
            "kind": "approval",
            "message": inputs.message,
            "on_approve": [["approved", True], ["data", inputs.data]],
        })
        yield  # pragma: no cover - makes this a generator like every block
