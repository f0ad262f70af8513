"""Queries on idempotency keys. Nothing here commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlmodel import Session, col

from fleet.store.models import IdempotencyKey


def get(session: Session, user_id: str, key: str) -> IdempotencyKey | None:
    """The stored key of ``user_id``, or None."""
    stmt = select(IdempotencyKey).where(col(IdempotencyKey.user_id) == user_id,
                                        col(IdempotencyKey.key) == key)
    return session.execute(stmt.execution_options(populate_existing=True)).scalars().first()


def add(session: Session, *, user_id: str, key: str, run_id: str, request_hash: str,
        now: datetime) -> None:
    """Store the key (a concurrent duplicate fails at flush or commit on the primary key)."""
    session.execute(insert(IdempotencyKey).values(user_id=user_id, key=key, run_id=run_id,
                                                  request_hash=request_hash, created_at=now))
