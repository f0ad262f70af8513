"""Aggregates the overview, the runtimes page and the "why is this run not moving?" panel
read. Each is index-backed and bounded (a count stops at a cap, a sample has a limit).
Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from fleet.store.models import ACTIVE_STATES, Alert, AlertDelivery, Run, Runtime, SystemJob

ACTIVE = sorted(s.value for s in ACTIVE_STATES)


def active_counts(session: Session) -> dict[str, int]:
    """Runs in each active state (one index range on ``state``)."""
    stmt = (select(col(Run.state), func.count()).where(col(Run.state).in_(ACTIVE))
            .group_by(col(Run.state)))
    return {r[0]: int(r[1]) for r in session.execute(stmt).all()}


def oldest_queued_at(session: Session) -> datetime | None:
    """When the longest-waiting queued run was queued (index ``(state, queued_at)``)."""
    stmt = (select(col(Run.queued_at)).where(col(Run.state) == "queued",
                                              col(Run.queued_at).is_not(None))
            .order_by(col(Run.queued_at)).limit(1))
    return session.execute(stmt).scalars().first()


def recent_finished(session: Session, limit: int) -> list[tuple[str, float | None, datetime]]:
    """``(state, wall_time_s, completed_at)`` of the last ``limit`` finished runs, newest
    first (index on ``completed_at``)."""
    stmt = (select(col(Run.state), col(Run.wall_time_s), col(Run.completed_at))
            .where(col(Run.completed_at).is_not(None))
            .order_by(col(Run.completed_at).desc()).limit(limit))
    return [(r[0], r[1], r[2]) for r in session.execute(stmt).all()]


def count_capped(session: Session, state: str, column: str, before: datetime,
                 cap: int, since: datetime | None = None) -> int:
    """Runs in ``state`` whose ``column`` (``queued_at`` or ``started_at``) is before
    ``before`` (and after ``since``), counted up to ``cap + 1``."""
    at = col(getattr(Run, column))
    conds = [col(Run.state) == state, at < before]
    if since is not None:
        conds.append(at >= since)
    inner = select(col(Run.id)).where(*conds).limit(cap + 1).subquery()
    return int(session.execute(select(func.count()).select_from(inner)).scalar_one())


def queued_ahead(session: Session, queued_at: datetime, run_id: str, cap: int) -> int:
    """Queued runs queued before this one (its place in the backlog), up to ``cap + 1``."""
    inner = (select(col(Run.id))
             .where(col(Run.state) == "queued", col(Run.queued_at) < queued_at,
                    col(Run.id) != run_id)
             .limit(cap + 1).subquery())
    return int(session.execute(select(func.count()).select_from(inner)).scalar_one())


def runtime_counts(session: Session) -> dict[str, int]:
    """Runtimes by status."""
    stmt = select(col(Runtime.status), func.count()).group_by(col(Runtime.status))
    return {r[0]: int(r[1]) for r in session.execute(stmt).all()}


def runtimes(session: Session, *, status: str | None = None, limit: int = 200) -> list[Runtime]:
    """Runtimes (of one status, or all), most recently seen first."""
    stmt = select(Runtime)
    if status is not None:
        stmt = stmt.where(col(Runtime.status) == status)
    stmt = stmt.order_by(col(Runtime.last_seen_at).desc(), col(Runtime.id)).limit(limit)
    return list(session.execute(stmt).scalars().all())


def held_counts(session: Session, runtime_ids: Sequence[str]) -> dict[str, int]:
    """Running runs held by each of ``runtime_ids`` (index ``(runtime_id, state)``)."""
    if not runtime_ids:
        return {}
    stmt = (select(col(Run.runtime_id), func.count())
            .where(col(Run.runtime_id).in_(list(runtime_ids)), col(Run.state) == "running")
            .group_by(col(Run.runtime_id)))
    return {r[0]: int(r[1]) for r in session.execute(stmt).all()}


def runtime(session: Session, runtime_id: str) -> Runtime | None:
    """One runtime, or None."""
    return session.get(Runtime, runtime_id, populate_existing=True)


def system_jobs(session: Session) -> list[SystemJob]:
    """Every system job's last run record."""
    return list(session.execute(select(SystemJob).order_by(col(SystemJob.name)))
                .scalars().all())


def system_job(session: Session, name: str) -> SystemJob | None:
    """One system job's last run record, or None when it never ran."""
    return session.get(SystemJob, name, populate_existing=True)


def firing_alerts(session: Session, limit: int) -> list[Alert]:
    """Firing alerts, most recently seen first (index ``(state, last_sent_at)``)."""
    stmt = (select(Alert).where(col(Alert.state) == "firing")
            .order_by(col(Alert.last_seen_at).desc()).limit(limit))
    return list(session.execute(stmt).scalars().all())


def alerts(session: Session, *, state: str | None, user_id: str | None,
           limit: int) -> list[Alert]:
    """Alerts (of one state; only those about ``user_id`` when given), most recently seen
    first."""
    stmt = select(Alert)
    if state is not None:
        stmt = stmt.where(col(Alert.state) == state)
    if user_id is not None:
        stmt = stmt.where(col(Alert.user_id) == user_id)
    stmt = stmt.order_by(col(Alert.last_seen_at).desc(), col(Alert.id)).limit(limit)
    return list(session.execute(stmt).scalars().all())


def deliveries(session: Session, alert_ids: Sequence[str],
               per_alert: int = 20) -> dict[str, list[AlertDelivery]]:
    """The latest deliveries of each alert (index on ``alert_id``)."""
    if not alert_ids:
        return {}
    stmt = (select(AlertDelivery).where(col(AlertDelivery.alert_id).in_(list(alert_ids)))
            .order_by(col(AlertDelivery.created_at).desc()))
    found: dict[str, list[AlertDelivery]] = {}
    for d in session.execute(stmt).scalars().all():
        rows = found.setdefault(d.alert_id, [])
        if len(rows) < per_alert:
            rows.append(d)
    return found
