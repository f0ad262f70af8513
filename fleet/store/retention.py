"""Deleting old history: finished runs with their node runs and events. Nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, select
from sqlmodel import Session, col

from fleet.store.models import TERMINAL_STATES, NodeRun, Run, RunEvent, ScheduleFire

TERMINAL = sorted(s.value for s in TERMINAL_STATES)


def finished_before(session: Session, before: datetime, limit: int) -> list[str]:
    """Terminal runs completed before ``before``, oldest first (retention candidates)."""
    stmt = (select(col(Run.id))
            .where(col(Run.completed_at) < before, col(Run.state).in_(TERMINAL))
            .order_by(col(Run.completed_at)).limit(limit))
    return list(session.execute(stmt).scalars().all())


def delete_runs(session: Session, run_ids: Sequence[str], before: datetime) -> tuple[int, int, int]:
    """Delete the runs (still terminal and completed before ``before``) with their node runs
    and events; returns ``(runs, node_runs, events)`` deleted."""
    if not run_ids:
        return (0, 0, 0)
    keep = and_(col(Run.id).in_(list(run_ids)), col(Run.state).in_(TERMINAL),
                col(Run.completed_at) < before)
    ids = list(session.execute(select(col(Run.id)).where(keep)).scalars().all())
    if not ids:
        return (0, 0, 0)
    nodes = session.execute(delete(NodeRun).where(col(NodeRun.run_id).in_(ids)))
    events = session.execute(delete(RunEvent).where(col(RunEvent.run_id).in_(ids)))
    runs = session.execute(delete(Run).where(col(Run.id).in_(ids)))
    return (int(runs.rowcount or 0), int(nodes.rowcount or 0),  # type: ignore[attr-defined]
            int(events.rowcount or 0))  # type: ignore[attr-defined]


def delete_events_before(session: Session, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` run events written before ``before`` (index on ``at``)."""
    ids = list(session.execute(select(col(RunEvent.id)).where(col(RunEvent.at) < before)
                               .order_by(col(RunEvent.at)).limit(limit)).scalars().all())
    if ids:
        session.execute(delete(RunEvent).where(col(RunEvent.id).in_(ids)))
    return len(ids)


def delete_fires_before(session: Session, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` schedule fire records written before ``before`` (index on ``at``)."""
    ids = list(session.execute(select(col(ScheduleFire.id)).where(col(ScheduleFire.at) < before)
                               .order_by(col(ScheduleFire.at)).limit(limit)).scalars().all())
    if ids:
        session.execute(delete(ScheduleFire).where(col(ScheduleFire.id).in_(ids)))
    return len(ids)
