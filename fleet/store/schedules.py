"""Queries on schedules and their fire records. Nothing here commits.

The dispatcher works in batches: :func:`due_batch` locks due schedules with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (two dispatchers pass each other; on
SQLite the caller holds ``BEGIN IMMEDIATE``); the runs a fire creates are
inserted by :func:`fleet.store.runs.insert_queued` (``ON CONFLICT DO NOTHING``
on the runs' unique ``(schedule_id, scheduled_for)``), and :func:`insert_fires`
records outcomes the same way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, cast, delete, select, update
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
    # ``input_data`` as stored (JSON text): schedules with the same text share one verdict.
    # Schedules with equal texts also share one ``input_data`` object: read it, never change it.
    input_text: str = field(default="{}", compare=False)


_JSON_COLUMNS = ("input_data", "credential_refs")
_DUE_NAMES = ("id", "user_id", "graph_id", "graph_version", "name", "cron", "timezone",
              "input_data", "credential_refs", "next_run_at", "last_fired_at", "overlap_policy",
              "catchup_policy", "catchup_window_s", "buffered_for")
# JSON columns read as text: equal texts are parsed once per batch (most are "{}").
_DUE_COLUMNS = [cast(Schedule.__table__.c[n], Text) if n in _JSON_COLUMNS  # type: ignore[attr-defined]
                else Schedule.__table__.c[n] for n in _DUE_NAMES]  # type: ignore[attr-defined]
_INPUTS, _CREDENTIALS = _DUE_NAMES.index("input_data"), _DUE_NAMES.index("credential_refs")


_TIMES = tuple(_DUE_NAMES.index(n) for n in ("next_run_at", "last_fired_at", "buffered_for"))


def _due(rows: Sequence[Sequence[Any]]) -> list[DueSchedule]:
    """Rows of ``_DUE_NAMES`` (JSON as text; timestamps naive UTC or aware) as DueSchedules;
    a batch repeats the same few texts and instants: each is converted once."""
    parsed: dict[str | None, Any] = {}
    aware: dict[datetime, datetime] = {}

    def load(text: str | None) -> Any:
        if text not in parsed:
            parsed[text] = {} if text is None else json.loads(text)
        return parsed[text]

    found = []
    for row in rows:
        values = list(row)
        text = values[_INPUTS]
        values[_INPUTS] = load(text)
        values[_CREDENTIALS] = load(values[_CREDENTIALS])
        for i in _TIMES:
            at = values[i]
            if at is not None and at.tzinfo is None:
                if at not in aware:
                    aware[at] = at.replace(tzinfo=UTC)
                values[i] = aware[at]
        values.append(text or "{}")  # input_text
        found.append(DueSchedule(*values))
    return found


def due_batch(session: Session, now: datetime, limit: int) -> list[DueSchedule]:
    """Unpaused schedules with ``next_run_at <= now``, earliest first, locked for this pass.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so a second dispatcher takes other
    rows; once the holder commits, its rows no longer match (``next_run_at``
    moved on); the statement is SQL text built once (at 50 batches a pass, building
    and reading it through SQLAlchemy cost more than PostgreSQL spent on it). SQLite
    renders no lock clause: the caller holds ``BEGIN IMMEDIATE``. The index
    ``ix_schedules_due`` (paused, next_run_at, id) serves the order: the scan stops
    after ``limit`` rows.
    """
    if session.get_bind().dialect.name == "postgresql":
        return _due(pgsql.due_schedules(session, _DUE_NAMES, _JSON_COLUMNS, now, limit))
    stmt = (
        select(*_DUE_COLUMNS)
        .where(col(Schedule.paused).is_(False), col(Schedule.next_run_at) <= now)
        .order_by(col(Schedule.next_run_at), col(Schedule.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return _due(session.execute(stmt).all())


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
    return _due(session.execute(stmt).all())


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
    """Record fire outcomes; one already recorded for the same instant and outcome is kept.

    A cron instant that fired is not recorded here: its run is the record (see :func:`fires`).
    """
    bulk.insert_rows(session, ScheduleFire.__table__, rows,  # type: ignore[attr-defined]
                     conflict=("schedule_id", "scheduled_for", "outcome"))


def fires(session: Session, schedule_id: str, *, outcome: str | None = None,
          limit: int = 100) -> list[ScheduleFire]:
    """The schedule's fire records, newest instant first.

    The stored records (missed, skipped, failed, and the "run now" fires) and, as
    ``fired`` records, the runs the dispatcher created at cron instants: each such run
    is the record of its fire (its ``scheduled_for``, id and ``created_at``), so the
    dispatcher writes no fire row beside it. The answer is not attached to the session.
    """
    stmt = select(ScheduleFire).where(col(ScheduleFire.schedule_id) == schedule_id)
    if outcome is not None:
        stmt = stmt.where(col(ScheduleFire.outcome) == outcome)
    stmt = stmt.order_by(col(ScheduleFire.scheduled_for).desc(), col(ScheduleFire.at).desc())
    found = list(session.execute(stmt.limit(limit)).scalars().all())
    if outcome in (None, "fired"):
        # the unique (schedule_id, scheduled_for) index serves this order
        runs = (select(col(Run.id), col(Run.scheduled_for), col(Run.created_at))
                .where(col(Run.schedule_id) == schedule_id, col(Run.scheduled_for).is_not(None))
                .order_by(col(Run.scheduled_for).desc()).limit(limit))
        found += [ScheduleFire(id=run_id, schedule_id=schedule_id, scheduled_for=at,
                               outcome="fired", run_id=run_id, detail=None, at=created)
                  for run_id, at, created in session.execute(runs).all()]
        found.sort(key=lambda f: (f.scheduled_for, f.at), reverse=True)
    return found[:limit]


def fires_in_one_statement(session: Session) -> bool:
    """Whether :func:`insert_fired` is available (PostgreSQL); elsewhere the dispatcher
    creates its runs through ``create_many`` and updates schedules with :func:`update_many`."""
    return session.get_bind().dialect.name == "postgresql"


@dataclass(frozen=True, slots=True)
class Fired:
    """A run the dispatcher inserted: the record of one fire."""

    run_id: str
    schedule_id: str
    scheduled_for: datetime


@dataclass(frozen=True, slots=True)
class FireRun:
    """A run the dispatcher fires: its schedule's graph, inputs and credentials, at one instant."""

    schedule_id: str
    scheduled_for: datetime
    graph_version: int
    max_attempts: int
    timeout_s: float | None
    detail: str  # the run's first event


def _iso(value: datetime | None, seen: dict[datetime, str]) -> str | None:
    if value is None:
        return None
    text = seen.get(value)
    if text is None:  # a batch repeats the same few instants
        text = seen[value] = bulk.naive_iso(value)
    return text


def insert_fired(session: Session, fires: Sequence[FireRun], updates: Sequence[dict[str, Any]],
                 now: datetime) -> list[Fired]:
    """PostgreSQL: a batch's runs (queued, recorded as sent at ``now``, with their first
    events) and schedule updates (``id``, ``next_run_at``, ``buffered_for``,
    ``last_fired_at``; ``updated_at`` becomes ``now``) in one statement. Returns the runs
    inserted, in order; a fire already made (same schedule and instant) is skipped. Each
    run's owner, graph, inputs and credentials are its schedule's (locked by this batch)."""
    if not fires and not updates:
        return []
    seen: dict[datetime, str] = {}
    ids = os.urandom(16 * len(fires)).hex()  # new_id() each, from one system call
    run_fields: dict[str, list[Any]] = {
        "ids": [ids[i:i + 32] for i in range(0, 32 * len(fires), 32)],
        "sids": [f.schedule_id for f in fires],
        "ats": [_iso(f.scheduled_for, seen) for f in fires],
        "versions": [f.graph_version for f in fires],
        "attempts": [f.max_attempts for f in fires],
        "timeouts": [f.timeout_s for f in fires],
        "details": [f.detail for f in fires],
    }
    schedule_fields: dict[str, list[Any]] = {
        "uids": [u["id"] for u in updates],
        "nexts": [_iso(u["next_run_at"], seen) for u in updates],
        "buffereds": [_iso(u["buffered_for"], seen) for u in updates],
        "lasts": [_iso(u["last_fired_at"], seen) for u in updates],
    }
    made = pgsql.fire_runs(session, Run.__table__, run_fields,  # type: ignore[attr-defined]
                           schedule_fields, now)
    return [Fired(run_id, f.schedule_id, f.scheduled_for)
            for run_id, f in zip(run_fields["ids"], fires, strict=True) if run_id in made]


def runs_of(session: Session, schedule_id: str, limit: int = 1000) -> list[Run]:
    """The schedule's runs, by scheduled instant (manual runs last)."""
    stmt = (
        select(Run).where(col(Run.schedule_id) == schedule_id)
        .order_by(col(Run.scheduled_for).is_(None), col(Run.scheduled_for), col(Run.created_at))
        .limit(limit)
    )
    return list(session.execute(stmt).scalars().all())
