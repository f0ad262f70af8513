"""The rows a schedule fire writes: the queued run, its first event, the fire record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fleet.store.models import Graph, RunState, Schedule
from fleet.store.types import new_id


def run_values(schedule: Schedule, graph: Graph, scheduled_for: datetime | None,
               now: datetime) -> dict[str, Any]:
    """Column values of the queued run for one fire (``scheduled_for`` None: run now)."""
    return {
        "id": new_id(),
        "user_id": schedule.user_id,
        "graph_id": graph.id,
        "graph_version": graph.version,
        "schedule_id": schedule.id,
        "scheduled_for": scheduled_for,
        "state": RunState.QUEUED.value,
        "inputs": dict(schedule.input_data or {}),
        "max_attempts": graph.max_attempts,
        "timeout_s": graph.timeout_s,
        "created_at": now,
        "queued_at": now,
        "state_changed_at": now,
    }


def created_event(run_id: str, schedule_id: str, scheduled_for: datetime | None,
                  now: datetime) -> dict[str, Any]:
    """The run's first event: entered ``queued`` from a schedule."""
    what = (f"fired by schedule {schedule_id} for {scheduled_for.isoformat()}"
            if scheduled_for is not None else f"run now from schedule {schedule_id}")
    return {"run_id": run_id, "at": now, "kind": "transition", "from_state": None,
            "to_state": RunState.QUEUED.value, "detail": what}


def fire_values(schedule_id: str, scheduled_for: datetime, outcome: str, now: datetime, *,
                run_id: str | None = None, detail: str | None = None) -> dict[str, Any]:
    """One ``schedule_fires`` row."""
    return {"id": new_id(), "schedule_id": schedule_id, "scheduled_for": scheduled_for,
            "outcome": outcome, "run_id": run_id, "detail": detail, "at": now}
