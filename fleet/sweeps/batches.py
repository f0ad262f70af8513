"""Work in committed batches until none is left, a batch cap or a time budget is reached.

The clean-up jobs (retention, runtime GC) share this loop: each batch is one
write transaction, committed before the next, so a long backlog never holds a
lock for long and a crash loses at most one batch of work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from fleet.store.db import begin_write


@dataclass
class Batched:
    """How a batched pass went."""

    batches: int = 0
    found: int = 0  # candidates the batches found in all
    more: bool = False  # stopped by the cap or the budget with work left


def in_batches(session: Session, what: str, step: Callable[[], int], *, batch_size: int,
               max_batches: int, budget_s: float | None = None,
               clock: Callable[[], float] = time.monotonic) -> Batched:
    """Call ``step`` in its own write transaction until it finds fewer than ``batch_size``.

    ``step`` does one batch and returns how many candidates it found. The pass
    also stops after ``max_batches`` or once ``budget_s`` seconds have gone,
    reporting ``more`` so the next tick carries on.
    """
    result = Batched()
    deadline = clock() + budget_s if budget_s is not None else None
    while True:
        begin_write(session, what)
        found = step()
        session.commit()
        result.found += found
        if found:
            result.batches += 1
        if found < batch_size:
            return result
        if result.batches >= max_batches or (deadline is not None and clock() >= deadline):
            result.more = True
            return result
