"""Queries on batch operations. Nothing here commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from fleet.store.models import BatchOperation


def add(session: Session, op: BatchOperation) -> BatchOperation:
    """Insert a batch operation (flushed)."""
    session.add(op)
    session.flush()
    return op


def get(session: Session, batch_id: str) -> BatchOperation | None:
    """The batch operation, freshly read, or None."""
    return session.get(BatchOperation, batch_id, populate_existing=True)


def progress(session: Session, batch_id: str, values: dict[str, Any]) -> None:
    """Set progress columns of one batch operation."""
    session.execute(update(BatchOperation).where(col(BatchOperation.id) == batch_id)
                    .values(**values))


def recent(session: Session, *, user_id: str | None, limit: int = 50) -> list[BatchOperation]:
    """Batch operations newest first (of one user, or all)."""
    stmt = select(BatchOperation)
    if user_id is not None:
        stmt = stmt.where(col(BatchOperation.user_id) == user_id)
    stmt = stmt.order_by(col(BatchOperation.created_at).desc()).limit(limit)
    return list(session.execute(stmt).scalars().all())
