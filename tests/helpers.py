"""Small builders shared by tests."""

from __future__ import annotations

import threading
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


class WriteElsewhere:
    """Another connection commits a write (a queued run) while an operation is under way.

    :meth:`start` (called from inside the operation, after it read) starts the write in a
    thread and gives it 0.5 s: on SQLite it then waits for the write lock the operation
    must already hold, else it commits at once and the operation's own write is refused.
    :meth:`outcome` waits for it: None when it committed, or its error.
    """

    def __init__(self, bind: Any, now: datetime) -> None:
        self.bind, self.now = bind, now
        self.done: list[BaseException | None] = []
        self.thread: threading.Thread | None = None

    def _write(self) -> None:
        try:
            with Session(self.bind) as s:
                make_run(s, self.now)
            self.done.append(None)
        except BaseException as exc:  # reported by outcome()
            self.done.append(exc)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._write)
        self.thread.start()
        self.thread.join(0.5)

    def outcome(self, timeout_s: float = 15.0) -> BaseException | None:
        assert self.thread is not None, "start() was never called"
        self.thread.join(timeout_s)
        assert self.done, "the other write did not finish"
        return self.done[0]
