"""The one way a run is born: a committed ``queued`` row with its first event.

Submit, the dispatcher, a schedule's run-now and a retry all describe the
runs they want as :class:`NewRun` values and call :func:`create` (one) or
:func:`create_many` (a batch, one INSERT). Scheduled fires are inserted with
``ON CONFLICT DO NOTHING`` on ``(schedule_id, scheduled_for)``, so a second
dispatcher (or a retried tick) cannot make the same fire twice. Nothing here
commits or sends: the caller commits, then sends through
:func:`fleet.runs.sending.send_and_record`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.store import runs as store
from fleet.store.models import Graph, RunState
from fleet.store.types import new_id


@dataclass(frozen=True)
class NewRun:
    """A run to create: whose, which graph version, with which inputs, and why."""

    user_id: str
    graph: Graph
    inputs: dict[str, Any]
    detail: str  # the first event's text: who or what created the run
    schedule_id: str | None = None
    scheduled_for: datetime | None = None
    retry_of: str | None = None
    id: str = field(default_factory=new_id)
    # Credential ids by the node pin they feed ("node.pin" -> id), never secrets (issue 17).
    credentials: dict[str, str] = field(default_factory=dict)

    def row(self, now: datetime) -> dict[str, Any]:
        """Column values of the queued run."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "graph_id": self.graph.id,
            "graph_version": self.graph.version,
            "schedule_id": self.schedule_id,
            "scheduled_for": self.scheduled_for,
            "retry_of": self.retry_of,
            "state": RunState.QUEUED.value,
            "inputs": dict(self.inputs),
            "credentials": dict(self.credentials),
            "max_attempts": self.graph.max_attempts,
            "timeout_s": self.graph.timeout_s,
            "created_at": now,
            "queued_at": now,
            "state_changed_at": now,
        }


def create_many(session: Session, runs: Sequence[NewRun], now: datetime, *,
                sending: bool = False) -> list[NewRun]:
    """Insert ``runs`` as queued with their first events; returns those actually inserted.

    A scheduled fire already made (same schedule and instant) is skipped and
    absent from the answer. ``sending``: the caller sends them right after its
    commit through ``send_and_record(..., recorded=True)``, so the rows are born
    recorded as sent (one write of each row instead of two). Does not commit.
    """
    if not runs:
        return []
    rows = [r.row(now) for r in runs]
    if sending:
        for row in rows:
            row["last_sent_at"] = now
            row["send_count"] = 1
    inserted = set(store.insert_queued(session, rows))
    made = [r for r in runs if r.id in inserted]
    store.add_event_rows(session, [
        {"run_id": r.id, "at": now, "kind": "transition", "from_state": None,
         "to_state": RunState.QUEUED.value, "detail": r.detail} for r in made])
    return made


def create(session: Session, run: NewRun, now: datetime) -> str | None:
    """Insert one queued run; its id, or None when it is a fire already made. Does not commit."""
    made = create_many(session, [run], now)
    return made[0].id if made else None
