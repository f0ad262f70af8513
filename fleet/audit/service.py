"""The audit log: who did what to which object, when.

Entries are written for actions that happened (a refused call changes nothing, not even
the log). :func:`add` joins the caller's transaction; :func:`record` commits its own.
A viewer or operator reads the entries they made and those about their objects; an
admin reads everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.store import audit as store
from fleet.store.models import AuditEntry


@dataclass(frozen=True)
class Actor:
    """Who acts and through what."""

    user_id: str
    role: str = ""
    via: str = "api"  # api | dashboard | cli


def add(session: Session, now: datetime, actor: Actor, action: str, *, target_kind: str = "",
        target_id: str | None = None, target_user: str | None = None,
        detail: dict[str, Any] | None = None) -> None:
    """Append an entry inside the caller's transaction (not committed)."""
    store.add(session, at=now, actor=actor.user_id, role=actor.role, via=actor.via,
              action=action, target_kind=target_kind, target_id=target_id,
              target_user=target_user, detail=dict(detail or {}))


def record(session: Session, now: datetime, actor: Actor, action: str, *,
           target_kind: str = "", target_id: str | None = None,
           target_user: str | None = None, detail: dict[str, Any] | None = None) -> None:
    """Append an entry in its own transaction; commits."""
    if session.in_transaction():
        session.commit()
    add(session, now, actor, action, target_kind=target_kind, target_id=target_id,
        target_user=target_user, detail=detail)
    session.commit()


@dataclass
class AuditPage:
    """One page of entries, newest first, and the id to continue before."""

    entries: list[AuditEntry]
    next_before: int | None


def page(session: Session, *, user_id: str | None, limit: int = 100,
         before: int | None = None, action: str | None = None) -> AuditPage:
    """Entries visible to ``user_id`` (None: all), newest first, keyset on the id."""
    rows = store.page(session, user_id=user_id, limit=limit + 1, before_id=before,
                      action=action)
    session.commit()
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, rows[-1].id if more and rows else None)
