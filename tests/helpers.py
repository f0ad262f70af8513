"""Small builders shared by tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session

from fleet.engine.blocks.base import Block, BlockContext
from fleet.store.models import Run


class PassThrough(Block):
    """Passes its ``value`` on; subclasses set ``id``, ``cost`` or ``cost_of``."""

    id = "pass_through"
    description = "Passes its value on."

    class Input(BaseModel):
        value: Any = None

    class Output(BaseModel):
        value: Any = None

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        yield "value", inputs.value


def make_run(session: Session, now: datetime, *, commit: bool = True, **fields: Any) -> Run:
    """Insert a queued run (fields override the defaults)."""
    values: dict[str, Any] = {
        "user_id": "alice",
        "graph_id": "g1",
        "graph_version": 1,
        "created_at": now,
        "queued_at": now,
        "state_changed_at": now,
        "max_attempts": 3,
    }
    values.update(fields)
    run = Run(**values)
    session.add(run)
    if commit:
        session.commit()
    return run
