"""Queries on the audit log. Nothing here commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import Session, col

from fleet.store.models import AuditEntry


def add(session: Session, *, at: datetime, actor: str, role: str, via: str, action: str,
        target_kind: str, target_id: str | None, target_user: str | None,
        detail: dict[str, Any]) -> None:
    """Append one entry (not committed)."""
    session.execute(insert(AuditEntry).values(
        at=at, actor=actor, role=role, via=via, action=action, target_kind=target_kind,
        target_id=target_id, target_user=target_user, detail=detail))


def page(session: Session, *, user_id: str | None, limit: int,
         before_id: int | None = None, action: str | None = None) -> list[AuditEntry]:
    """Entries newest first: every entry (``user_id=None``) or those ``user_id`` made or
    that touched their objects; keyset on the id."""
    stmt = select(AuditEntry)
    if user_id is not None:
        # Two index-backed halves (actor, target owner) rather than one OR over the table.
        mine = (select(col(AuditEntry.id)).where(col(AuditEntry.actor) == user_id)
                .union(select(col(AuditEntry.id)).where(col(AuditEntry.target_user) == user_id)))
        stmt = stmt.where(col(AuditEntry.id).in_(mine))
    if before_id is not None:
        stmt = stmt.where(col(AuditEntry.id) < before_id)
    if action is not None:
        stmt = stmt.where(col(AuditEntry.action) == action)
    stmt = stmt.order_by(col(AuditEntry.id).desc()).limit(limit)
    return list(session.execute(stmt).scalars().all())
