"""Queries on runtimes (worker processes). Nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlmodel import Session, col

from fleet.store.models import Runtime


def add(session: Session, runtime: Runtime) -> Runtime:
    """Insert a runtime row (flushed)."""
    session.add(runtime)
    session.flush()
    return runtime


def update_shape(session: Session, runtime_id: str, *, queues: Sequence[str], concurrency: int,
                 now: datetime) -> Runtime:
    """Set a runtime's queues and threads (a process that started a second worker)."""
    session.execute(update(Runtime).where(col(Runtime.id) == runtime_id)
                    .values(queues=list(queues), concurrency=concurrency, last_seen_at=now,
                            status="online", offline_at=None))
    row = session.get(Runtime, runtime_id, populate_existing=True)
    assert row is not None
    return row


def get(session: Session, runtime_id: str) -> Runtime | None:
    """The runtime, or None."""
    return session.get(Runtime, runtime_id, populate_existing=True)


def consumer_ids(session: Session, runtime_ids: Sequence[str]) -> dict[str, str]:
    """runtime id -> its broker consumer id, for the runtimes that recorded one."""
    if not runtime_ids:
        return {}
    rows = session.execute(select(col(Runtime.id), col(Runtime.info))
                           .where(col(Runtime.id).in_(list(runtime_ids)))).all()
    return {r[0]: str(r[1]["consumer_id"]) for r in rows
            if isinstance(r[1], dict) and r[1].get("consumer_id")}


def touch(session: Session, runtime_id: str, now: datetime) -> bool:
    """Record that the runtime was seen at ``now``; a runtime marked offline comes back online."""
    result = session.execute(
        update(Runtime).where(col(Runtime.id) == runtime_id)
        .values(last_seen_at=now, status="online", offline_at=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_offline(session: Session, runtime_ids: Sequence[str], now: datetime,
                 *, stale_before: datetime | None = None) -> list[str]:
    """Mark runtimes offline; with ``stale_before`` only those still unseen since then.

    Repeating the staleness condition inside the UPDATE lets a heartbeat that
    landed after the caller's read keep its runtime online.
    """
    if not runtime_ids:
        return []
    stmt = update(Runtime).where(col(Runtime.id).in_(list(runtime_ids)),
                                 col(Runtime.status) == "online")
    if stale_before is not None:
        stmt = stmt.where(col(Runtime.last_seen_at) < stale_before)
    stmt = stmt.values(status="offline", offline_at=now).returning(col(Runtime.id))
    return list(session.execute(stmt).scalars().all())


def stale(session: Session, before: datetime, limit: int) -> list[Runtime]:
    """Online runtimes last seen before ``before``, oldest first (index-backed)."""
    stmt = (select(Runtime)
            .where(col(Runtime.status) == "online", col(Runtime.last_seen_at) < before)
            .order_by(col(Runtime.last_seen_at)).limit(limit))
    return list(session.execute(stmt).scalars().all())


def offline_before(session: Session, before: datetime, limit: int) -> list[str]:
    """Ids of runtimes offline since before ``before`` (garbage-collection candidates)."""
    stmt = (select(col(Runtime.id))
            .where(col(Runtime.status) == "offline", col(Runtime.offline_at) < before)
            .order_by(col(Runtime.offline_at)).limit(limit))
    return list(session.execute(stmt).scalars().all())


def delete_ids(session: Session, runtime_ids: Sequence[str]) -> int:
    """Delete runtime rows; run history keeps its rows (runs reference runtimes by id only)."""
    if not runtime_ids:
        return 0
    result = session.execute(delete(Runtime).where(col(Runtime.id).in_(list(runtime_ids))))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def list_runtimes(session: Session, *, status: str | None = None,
                  limit: int = 200) -> list[Runtime]:
    """Runtimes, most recently seen first."""
    stmt = select(Runtime)
    if status is not None:
        stmt = stmt.where(col(Runtime.status) == status)
    stmt = stmt.order_by(col(Runtime.last_seen_at).desc()).limit(limit)
    return list(session.execute(stmt).scalars().all())
