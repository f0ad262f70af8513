"""What one block execution costs: a fixed amount, or a function of its inputs and outputs.

A block declares its cost in one of two ways (see :class:`fleet.engine.blocks.base.Block`):

- a fixed amount per execution, the class attribute ``cost`` (default 0)::

      class Summarise(Block):
          cost = 0.5

- a function of the execution's inputs and outputs, by overriding ``cost_of``
  (its docstring's first line describes it in ``fleet blocks show``)::

      def cost_of(self, inputs, outputs):
          \"\"\"0.01 per 1 000 characters of text.\"\"\"
          return 0.01 * len(inputs.text) / 1000

Costs are plain non-negative numbers in the operator's unit (the built-ins
count one unit per outside call). Every execution that ran the block is
charged, whether it completed, failed or parked the run: a failed call may
well have been billed. A failed execution's ``outputs`` are empty, so a
function can tell; it is asked once, and if it raises the failure is charged 0.
A function that raises or answers something that is not a finite
non-negative number fails a completed execution (the block's outputs are
dropped), naming the block: a cost that cannot be known is a bug to see.
What runs inside an execution is charged to it too: a ``subgraph`` node costs
the sum of its nested executions (``BlockContext.nested_cost``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:  # the base module imports this one
    from fleet.engine.blocks.base import Block

Outputs = Sequence[tuple[str, Any]]


class CostError(ValueError):
    """A block's cost function failed or answered an invalid amount."""


@dataclass(frozen=True)
class CostDeclaration:
    """How a block declares its cost: ``fixed`` (an amount per execution) or ``computed``."""

    kind: str  # fixed | computed
    amount: float | None  # the fixed amount; None when computed
    description: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``fleet blocks show --json``)."""
        return {"kind": self.kind, "amount": self.amount, "description": self.description}

    def __str__(self) -> str:
        if self.kind == "fixed":
            return f"{self.amount:g} per execution"
        return f"computed: {self.description}" if self.description else "computed"


def is_computed(block: type[Block]) -> bool:
    """Whether ``block`` overrides ``cost_of`` (its cost depends on inputs/outputs)."""
    from_base = _base_cost_of(block)
    return getattr(block, "cost_of", from_base) is not from_base


def _base_cost_of(block: type[Block]) -> Any:
    # The Block class itself is the last class of the MRO that defines cost_of.
    for klass in reversed(block.__mro__):
        if "cost_of" in vars(klass):
            return vars(klass)["cost_of"]
    return None


def declaration(block: type[Block]) -> CostDeclaration:
    """The cost ``block`` declares."""
    if is_computed(block):
        doc = (block.cost_of.__doc__ or "").strip().splitlines()
        return CostDeclaration("computed", None, doc[0].strip() if doc else "")
    return CostDeclaration("fixed", float(block.cost), "")


def declaration_problem(block: type[Block]) -> str | None:
    """Why ``block``'s cost declaration is unusable (a registry refuses it), or None."""
    amount = block.cost
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        return (f"block {block.id!r}: cost must be a number (an amount per execution), "
                f"got {type(amount).__name__} {amount!r}; for a cost that depends on the "
                "inputs or outputs, override cost_of(self, inputs, outputs)")
    if not valid_amount(amount):
        return f"block {block.id!r}: cost must be a finite number >= 0, got {amount!r}"
    return None


def valid_amount(value: Any) -> bool:
    """Whether ``value`` is a usable cost: a finite number >= 0 (not a bool)."""
    return (not isinstance(value, bool) and isinstance(value, int | float)
            and math.isfinite(value) and value >= 0)


def execution_cost(block: Block, inputs: BaseModel, outputs: Outputs) -> float:
    """What one completed (or parked) execution of ``block`` costs; CostError when unknown."""
    try:
        amount = block.cost_of(inputs, list(outputs))
    except Exception as exc:
        raise CostError(f"the cost of block {block.id!r} could not be computed: "
                        f"{type(exc).__name__}: {exc}") from None
    if not valid_amount(amount):
        raise CostError(f"the cost of block {block.id!r} must be a finite number >= 0, "
                        f"its cost_of() answered {amount!r}")
    return float(amount)


def failure_cost(block: Block | None, inputs: BaseModel | None) -> float:
    """What a failed execution costs: 0 when the block never ran (invalid inputs) or its
    cost function cannot tell without outputs."""
    if block is None or inputs is None:
        return 0.0
    try:
        return execution_cost(block, inputs, [])
    except CostError:
        return 0.0


def total(costs: Sequence[float]) -> float:
    """The sum of execution costs, rounded against float noise (to 1e-9)."""
    return round(math.fsum(costs), 9)
