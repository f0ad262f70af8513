"""``failing``: fails on demand, or on its Nth call; for tests and demos."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from fleet.engine.blocks.base import Block, BlockContext

_calls: dict[tuple[str, str], int] = {}
_lock = threading.Lock()


def calls(run_id: str, node_id: str) -> int:
    """How many times the node has executed in this process for this run."""
    with _lock:
        return _calls.get((run_id, node_id), 0)


class FailingBlock(Block):
    """Raise ``message``; with ``fail_on_call`` only on that call of this node in this run."""

    id = "failing"
    description = ("Fails on purpose: always (fail=true), or only on its Nth call for a node "
                   "of a run (fail_on_call=N); otherwise passes the value on.")

    class Input(BaseModel):
        value: Any = Field(None, description="Passed on when the block does not fail.")
        fail: bool = Field(True, description="Fail on every call (unless fail_on_call is set).")
        fail_on_call: int | None = Field(None, ge=1, description="Fail only on this call.")
        message: str = "the failing block failed on purpose"

    class Output(BaseModel):
        value: Any = Field(None, description="The value, when not failing.")

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        with _lock:
            n = _calls.get((ctx.run_id, ctx.node_id), 0) + 1
            _calls[(ctx.run_id, ctx.node_id)] = n
        should_fail = (n == inputs.fail_on_call) if inputs.fail_on_call else inputs.fail
        if should_fail:
            raise RuntimeError(f"{inputs.message} (call {n})")
        yield "value", inputs.value
