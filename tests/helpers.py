"""Small builders shared by tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.store.models import Run


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
