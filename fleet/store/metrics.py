"""Counters of ``/metrics`` kept in the store, and the windowed counts that feed them.

A refresh counts the rows that appeared in ``(counted_until, until]`` (each source read
through an index on its timestamp, so the cost follows the window, not the table) and adds
them to ``metric_counters``; the watermark row is locked for the refresh, so two web
processes never count one window twice. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlmodel import Session, col

from fleet.store.db import upsert_insert
from fleet.store.models import (
    AlertDelivery,
    MetricCounter,
    MetricWatermark,
    NodeRun,
    Run,
    RunEvent,
    ScheduleFire,
)


def watermark(session: Session, source: str) -> datetime | None:
    """The source's ``counted_until``, locked for this transaction (``FOR UPDATE``; SQLite
    callers hold ``BEGIN IMMEDIATE``), or None before the first refresh."""
    stmt = (select(col(MetricWatermark.counted_until))
            .where(col(MetricWatermark.source) == source).with_for_update())
    return session.execute(stmt).scalars().first()


def start_watermark(session: Session, source: str, at: datetime) -> bool:
    """Create the source's watermark at ``at`` unless it exists; True when this call did."""
    stmt = (upsert_insert(session, MetricWatermark)
            .values(source=source, counted_until=at)
            .on_conflict_do_nothing(index_elements=["source"])
            .returning(col(MetricWatermark.source)))
    return session.execute(stmt).first() is not None


def set_watermark(session: Session, source: str, until: datetime) -> None:
    """Move the source's watermark to ``until``."""
    session.execute(update(MetricWatermark).where(col(MetricWatermark.source) == source)
                    .values(counted_until=until))


def add(session: Session, deltas: Sequence[tuple[str, str, float]]) -> None:
    """Add ``(name, labels, delta)`` to the counters, creating missing ones."""
    if not deltas:
        return
    base = upsert_insert(session, MetricCounter)
    stmt = base.on_conflict_do_update(
        index_elements=["name", "labels"],
        set_={"value": col(MetricCounter.value) + base.excluded.value})
    session.execute(stmt, [{"name": n, "labels": lab, "value": v} for n, lab, v in deltas])


def counters(session: Session) -> list[tuple[str, str, float]]:
    """Every counter as ``(name, labels, value)``."""
    stmt = select(col(MetricCounter.name), col(MetricCounter.labels), col(MetricCounter.value))
    return [(r[0], r[1], float(r[2])) for r in session.execute(stmt).all()]


# --- what appeared in a window (since, until] ----------------------------------------


def transitions_into(session: Session, since: datetime, until: datetime) -> dict[str, int]:
    """Run transitions recorded in the window, by the state entered (index on ``at``)."""
    stmt = (select(col(RunEvent.to_state), func.count())
            .where(col(RunEvent.at) > since, col(RunEvent.at) <= until,
                   col(RunEvent.kind) == "transition")
            .group_by(col(RunEvent.to_state)))
    return {r[0]: int(r[1]) for r in session.execute(stmt).all() if r[0] is not None}


def lease_expiries(session: Session, since: datetime, until: datetime) -> int:
    """Runs taken back from a worker whose lease expired, in the window (the reaper's
    transitions out of ``running``)."""
    stmt = (select(func.count())
            .where(col(RunEvent.at) > since, col(RunEvent.at) <= until,
                   col(RunEvent.kind) == "transition", col(RunEvent.from_state) == "running",
                   col(RunEvent.detail).like("lease expired%")))
    return int(session.execute(stmt).scalar_one())


def fire_outcomes(session: Session, since: datetime, until: datetime) -> dict[str, int]:
    """Schedule fire records written in the window, by outcome (index on ``at``), and the
    cron instants the dispatcher fired in it: the runs it created then, each the record of
    its fire (:func:`fleet.store.schedules.fires`; index on ``created_at``)."""
    stmt = (select(col(ScheduleFire.outcome), func.count())
            .where(col(ScheduleFire.at) > since, col(ScheduleFire.at) <= until)
            .group_by(col(ScheduleFire.outcome)))
    found = {r[0]: int(r[1]) for r in session.execute(stmt).all()}
    fired = session.execute(select(func.count()).where(
        col(Run.created_at) > since, col(Run.created_at) <= until,
        col(Run.scheduled_for).is_not(None))).scalar_one()
    if fired:
        found["fired"] = found.get("fired", 0) + int(fired)
    return found


def delivery_outcomes(session: Session, since: datetime, until: datetime) -> dict[str, int]:
    """Alert delivery attempts made in the window, by the state they left the delivery in:
    ``sent``, ``gave_up``, or ``pending`` (failed, to be retried)."""
    stmt = (select(col(AlertDelivery.state), func.count())
            .where(col(AlertDelivery.last_attempt_at) > since,
                   col(AlertDelivery.last_attempt_at) <= until)
            .group_by(col(AlertDelivery.state)))
    return {r[0]: int(r[1]) for r in session.execute(stmt).all()}


def _bucket_columns(value: Any, bounds: Sequence[float]) -> list[Any]:
    cols: list[Any] = [func.sum(case((value <= b, 1), else_=0)) for b in bounds]
    return [*cols, func.count(value), func.sum(value)]


def run_durations(session: Session, since: datetime, until: datetime,
                  bounds: Sequence[float]) -> tuple[list[int], int, float]:
    """Cumulative bucket counts, count and sum of the wall time of runs finished in the
    window (index on ``completed_at``)."""
    value = col(Run.wall_time_s)
    stmt = (select(*_bucket_columns(value, bounds))
            .where(col(Run.completed_at) > since, col(Run.completed_at) <= until,
                   value.is_not(None)))
    row = session.execute(stmt).one()
    return [int(v or 0) for v in row[:-2]], int(row[-2] or 0), float(row[-1] or 0.0)


def node_durations(session: Session, since: datetime, until: datetime,
                   bounds: Sequence[float]) -> dict[str, tuple[list[int], int, float]]:
    """Per block: cumulative bucket counts, count and sum of node executions finished in
    the window (index on ``completed_at``)."""
    value = col(NodeRun.wall_time_s)
    stmt = (select(col(NodeRun.block_id), *_bucket_columns(value, bounds))
            .where(col(NodeRun.completed_at) > since, col(NodeRun.completed_at) <= until,
                   value.is_not(None))
            .group_by(col(NodeRun.block_id)))
    return {r[0]: ([int(v or 0) for v in r[1:-2]], int(r[-2] or 0), float(r[-1] or 0.0))
            for r in session.execute(stmt).all()}


def schedule_starts(session: Session, since: datetime, until: datetime,
                    limit: int = 100_000) -> list[tuple[datetime, datetime]]:
    """``(scheduled_for, started_at)`` of scheduled runs finished in the window."""
    stmt = (select(col(Run.scheduled_for), col(Run.started_at))
            .where(col(Run.completed_at) > since, col(Run.completed_at) <= until,
                   col(Run.scheduled_for).is_not(None), col(Run.started_at).is_not(None))
            .limit(limit))
    return [(r[0], r[1]) for r in session.execute(stmt).all()]
