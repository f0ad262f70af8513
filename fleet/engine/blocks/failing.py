"""``failing``: fails on demand, or on its Nth call; for tests and demos."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from fleet.engine.blocks.base import Block, BlockContext

# (run id, node id) -> calls in this process, the most recently called last. Bounded:
# a worker executes millions of runs over its life, and a counter per node of every
# run it ever executed would grow without end; the oldest counts are forgotten
# (a retry of the same run comes back within minutes, long before that).
MAX_TRACKED = 10_000
_calls: OrderedDict[tuple[str, str], int] = OrderedDict()
_lock = threading.Lock()


def count_call(run_id: str, node_id: str) -> int:
    """Count one more call of the node for the run in this process; the count."""
    key = (run_id, node_id)
    with _lock:
        n = _calls.pop(key, 0) + 1
        _calls[key] = n
        while len(_calls) > MAX_TRACKED:
            _calls.popitem(last=False)
    return n


def calls(run_id: str, node_id: str) -> int:
    """How many times the node has executed in this process for this run (0 once
    forgotten: see MAX_TRACKED)."""
    with _lock:
        return _calls.get((run_id, node_id), 0)


class FailingBlock(Block):
    """Raise ``message``; with ``fail_on_call`` only on that call of this node in this run."""

    id = "failing"
    inline = True  # never waits
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
        n = count_call(ctx.run_id, ctx.node_id)
        should_fail = (n == inputs.fail_on_call) if inputs.fail_on_call else inputs.fail
        if should_fail:
            raise RuntimeError(f"{inputs.message} (call {n})")
        yield "value", inputs.value
