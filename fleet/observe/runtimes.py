"""The runtimes page: each worker process, its heartbeat age and the runs it holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.errors import InvalidInput
from fleet.store import observe
from fleet.store.models import Runtime

STATUSES = ("online", "offline")


@dataclass
class RuntimeView:
    """One runtime as the API and dashboard show it."""

    runtime: Runtime
    heartbeat_age_s: float
    runs_held: int

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        r = self.runtime
        return {"id": r.id, "name": r.name, "hostname": r.hostname, "pid": r.pid,
                "status": r.status, "queues": list(r.queues), "concurrency": r.concurrency,
                "version": r.version, "registered_at": r.registered_at,
                "last_seen_at": r.last_seen_at, "offline_at": r.offline_at,
                "heartbeat_age_s": round(self.heartbeat_age_s, 1), "runs_held": self.runs_held}


def list_runtimes(session: Session, now: datetime, *, status: str | None = None,
                  limit: int = 200) -> list[RuntimeView]:
    """Runtimes, most recently seen first, with heartbeat age and runs held."""
    problems = []
    if status is not None and status not in STATUSES:
        problems.append(f"status: '{status}' is unknown; use online or offline")
    if not 1 <= limit <= 500:
        problems.append(f"limit: must be 1-500, got {limit}")
    if problems:
        raise InvalidInput("invalid runtime query", problems)
    rows = observe.runtimes(session, status=status, limit=limit)
    held = observe.held_counts(session, [r.id for r in rows])
    session.commit()
    return [RuntimeView(r, max(0.0, (now - r.last_seen_at).total_seconds()), held.get(r.id, 0))
            for r in rows]
