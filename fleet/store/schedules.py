"""Queries on schedules and their fire records. Nothing here commits.

The dispatcher works in batches: :func:`due_batch` locks due schedules with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (two dispatchers pass each other; on
SQLite the caller holds ``BEGIN IMMEDIATE``); the runs a fire creates are
inserted by :func:`fleet.store.runs.insert_queued` (``ON CONFLICT DO NOTHING``
on the runs' unique ``(schedule_id, scheduled_for)``), and :func:`insert_fires`
records outcomes the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel import Session, col

from fleet.store import bulk, pgsql
from fleet.store.models import ACTIVE_STATES, Run, Schedule, ScheduleFire
from fleet.store.types import new_id


def get(session: Session, schedule_id: str, *, fresh: bool = False) -> Schedule | None:
    """The schedule with ``schedule_id``, or None."""
    return session.get(Schedule, schedule_id, populate_existing=fresh)


def add(session: Session, schedule: Schedule) -> Schedule:
    """Insert a schedule (flushed, not committed)."""
    session.add(schedule)
    session.flush()
    return schedule


def list_schedules(session: Session, *, user_id: str | None = None,
                   graph_id: str | None = None, limit: int = 200) -> list[Schedule]:
    """Schedules, oldest first, optionally of one user or one graph."""
    stmt = select(Schedule)
    if user_id is not None:
        stmt = stmt.where(col(Schedule.user_id) == user_id)
    if graph_id is not None:
        stmt = stmt.where(col(Schedule.graph_id) == graph_id)
    stmt = stmt.order_by(col(Schedule.created_at), col(Schedule.id)).limit(limit)
    return list(session.execute(stmt).scalars().all())


def ids_for_graph(session: Session, user_id: str, graph_id: str) -> list[str]:
    """Ids of every schedule of the user's ``graph_id`` (index-backed)."""
    stmt = select(col(Schedule.id)).where(col(Schedule.graph_id) == graph_id,
                                          col(Schedule.user_id) == user_id)
    return list(session.execute(stmt.order_by(col(Schedule.id))).scalars().all())


def delete_ids(session: Session, ids: Sequence[str]) -> int:
    """Delete schedules and their fire records; returns schedules deleted."""
    if not ids:
        return 0
    session.execute(delete(ScheduleFire).where(col(ScheduleFire.schedule_id).in_(list(ids))))
    result = session.execute(delete(Schedule).where(col(Schedule.id).in_(list(ids))))
    # Drop identity-map copies so later reads do not see deleted rows.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Schedule) and obj.id in ids:
            session.expunge(obj)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def update_values(session: Session, schedule_id: str, values: dict[str, Any]) -> int:
    """Set ``values`` on one schedule; returns rows changed."""
    result = session.execute(
        update(Schedule).where(col(Schedule.id) == schedule_id).values(**values)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def update_many(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Per-schedule updates by primary key in one executemany (each dict has ``id``)."""
    bulk.update_rows(session, Schedule.__table__, rows)  # type: ignore[attr-defined]


def locks_rows(session: Session) -> bool:
    """Whether :func:`due_batch` locks only the rows it takes (PostgreSQL's SKIP LOCKED),
    so several passes may take batches at once; SQLite locks the whole database."""
    return session.get_bind().dialect.name == "postgresql"


@dataclass(frozen=True, slots=True)
class DueSchedule:
    """What the dispatcher reads of a schedule it fires: a plain row, not an ORM object
    (loading 100 000 of those through the identity map cost more than firing them)."""

    id: str
    user_id: str
    graph_id: str
    graph_version: int | None
    name: str
    cron: str
    timezone: str
    input_data: dict[str, Any]
    credential_refs: dict[str, Any]
    next_run_at: datetime | None
    last_fired_at: datetime | None
    overlap_policy: str
    catchup_policy: str
    catchup_window_s: float
    buffered_for: datetime | None


_DUE_COLUMNS = [Schedule.__table__.c[f.name] for f in fields(DueSchedule)]  # type: ignore[attr-defined]


def due_batch(session: Session, now: datetime, limit: int) -> list[DueSchedule]:
    """Unpaused schedules with ``next_run_at <= now``, earliest first, locked for this pass.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so a second dispatcher takes other
    rows; once the holder commits, its rows no longer match (``next_run_at``
    moved on). SQLite renders no lock clause: the caller holds ``BEGIN IMMEDIATE``.
    """
    stmt = (
        select(*_DUE_COLUMNS)
        .where(col(Schedule.paused).is_(False), col(Schedule.next_run_at) <= now)
        .order_by(col(Schedule.next_run_at), col(Schedule.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [DueSchedule(*row) for row in session.execute(stmt).all()]


def buffered_batch(session: Session, after_id: str, limit: int) -> list[DueSchedule]:
    """Unpaused schedules holding a buffered fire (``buffer_one``), by id after ``after_id``."""
    stmt = (
        select(*_DUE_COLUMNS)
        .where(col(Schedule.paused).is_(False), col(Schedule.buffered_for).is_not(None),
               col(Schedule.id) > after_id)
        .order_by(col(Schedule.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [DueSchedule(*row) for row in session.execute(stmt).all()]


def active_runs(session: Session, schedule_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """``schedule_id -> [(run_id, state), ...]`` of the schedules' runs not yet finished."""
    if not schedule_ids:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        rows: Sequence[tuple[str, str, str]] = pgsql.active_runs(session, schedule_ids)
    else:
        states = [s.value for s in ACTIVE_STATES]
        rows = session.execute(
            select(col(Run.schedule_id), col(Run.id), col(Run.state)).where(
                col(Run.schedule_id).in_(list(schedule_ids)), col(Run.state).in_(states))).all()
    found: dict[str, list[tuple[str, str]]] = {}
    for schedule_id, run_id, state in rows:
        found.setdefault(schedule_id, []).append((run_id, state))
    return found


def fire_row(schedule_id: str, scheduled_for: datetime, outcome: str, now: datetime, *,
             run_id: str | None = None, detail: str | None = None) -> dict[str, Any]:
    """One ``schedule_fires`` row for :func:`insert_fires`."""
    return {"id": new_id(), "schedule_id": schedule_id, "scheduled_for": scheduled_for,
            "outcome": outcome, "run_id": run_id, "detail": detail, "at": now}


def insert_fires(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Record fire outcomes; one already recorded for the same instant and outcome is kept."""
    bulk.insert_rows(session, ScheduleFire.__table__, rows,  # type: ignore[attr-defined]
                     conflict=("schedule_id", "scheduled_for", "outcome"))


def fires(session: Session, schedule_id: str, *, outcome: str | None = None,
          limit: int = 100) -> list[ScheduleFire]:
    """The schedule's fire records, newest instant first."""
    stmt = select(ScheduleFire).where(col(ScheduleFire.schedule_id) == schedule_id)
    if outcome is not None:
        stmt = stmt.where(col(ScheduleFire.outcome) == outcome)
    stmt = stmt.order_by(col(ScheduleFire.scheduled_for).desc(), col(ScheduleFire.at).desc())
    return list(session.execute(stmt.limit(limit)).scalars().all())


def runs_of(session: Session, schedule_id: str, limit: int = 1000) -> list[Run]:
    """The schedule's runs, by scheduled instant (manual runs last)."""
    stmt = (
        select(Run).where(col(Run.schedule_id) == schedule_id)
        .order_by(col(Run.scheduled_for).is_(None), col(Run.scheduled_for), col(Run.created_at))
        .limit(limit)
    )
    return list(session.execute(stmt).scalars().all())
