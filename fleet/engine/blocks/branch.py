"""``branch``: route a value to ``true`` or ``false`` by a condition."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from fleet.engine.blocks.base import Block, BlockContext

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge,
    "lt": operator.lt, "le": operator.le,
    "contains": lambda a, b: b in a,
    "truthy": lambda a, _b: bool(a),
}


class BranchBlock(Block):
    """Emit ``value`` on ``true`` when ``value <op> compare`` holds, else on ``false``."""

    id = "branch"
    inline = True  # never waits
    description = ("Condition: emit the value on 'true' or 'false'. Operators: truthy, eq, ne, "
                   "gt, ge, lt, le, contains.")

    class Input(BaseModel):
        value: Any = Field(description="The value tested and passed on.")
        op: Literal["truthy", "eq", "ne", "gt", "ge", "lt", "le", "contains"] = "truthy"
        compare: Any = Field(None, description="Right-hand side of the comparison.")

    class Output(BaseModel):
        true: Any = Field(None, description="The value, when the condition holds.")
        false: Any = Field(None, description="The value, when it does not.")

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        try:
            result = _OPS[inputs.op](inputs.value, inputs.compare)
        except TypeError as exc:
            raise ValueError(f"cannot compare {inputs.value!r} {inputs.op} "
                             f"{inputs.compare!r}: {exc}") from None
        yield ("true" if result else "false"), inputs.value
