"""Queries on credentials. Nothing here commits; no secret is ever decrypted here.

Every owner-facing read takes the owner: another user's credential is not
found, exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlmodel import Session, col

from fleet.store.models import Credential


def add(session: Session, credential: Credential) -> Credential:
    """Insert a credential (flushed, not committed)."""
    session.add(credential)
    session.flush()
    return credential


def get_owned(session: Session, user_id: str, ref: str) -> Credential | None:
    """The user's credential whose id (or, failing that, name) is ``ref``, or None."""
    by_id = select(Credential).where(col(Credential.user_id) == user_id,
                                     col(Credential.id) == ref)
    found = session.execute(by_id).scalars().first()
    if found is not None:
        return found
    by_name = select(Credential).where(col(Credential.user_id) == user_id,
                                       col(Credential.name) == ref)
    return session.execute(by_name).scalars().first()


def get_many_owned(session: Session, user_id: str, ids: Sequence[str]) -> dict[str, Credential]:
    """The user's credentials among ``ids``, by id (others' and missing ones are absent)."""
    if not ids:
        return {}
    stmt = select(Credential).where(col(Credential.user_id) == user_id,
                                    col(Credential.id).in_(list(set(ids))))
    return {c.id: c for c in session.execute(stmt).scalars().all()}


def list_for_user(session: Session, user_id: str, limit: int = 500) -> list[Credential]:
    """The user's credentials by name."""
    stmt = (select(Credential).where(col(Credential.user_id) == user_id)
            .order_by(col(Credential.name)).limit(limit))
    return list(session.execute(stmt).scalars().all())


def delete_id(session: Session, user_id: str, credential_id: str) -> int:
    """Delete the user's credential; rows deleted (0 when missing or another user's)."""
    result = session.execute(delete(Credential).where(col(Credential.user_id) == user_id,
                                                      col(Credential.id) == credential_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def not_under_key(session: Session, key_id: str, after_id: str, limit: int) -> list[Credential]:
    """Credentials encrypted with another key than ``key_id``, after ``after_id`` in id order
    (rotate-key's next batch)."""
    stmt = (select(Credential).where(col(Credential.key_id) != key_id,
                                     col(Credential.id) > after_id)
            .order_by(col(Credential.id)).limit(limit))
    return list(session.execute(stmt).scalars().all())


def replace_secret(session: Session, credential_id: str, *, old_secret: str, secret: str,
                   key_id: str, values: dict[str, Any] | None = None) -> bool:
    """Store a new ciphertext if the row still holds ``old_secret`` (no lost update)."""
    stmt = (update(Credential)
            .where(col(Credential.id) == credential_id, col(Credential.secret) == old_secret)
            .values(secret=secret, key_id=key_id, **(values or {}))
            .execution_options(synchronize_session=False))
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def expired_ids(session: Session, kind: str, now: datetime, limit: int) -> list[str]:
    """Ids of ``kind`` credentials past ``expires_at`` that cannot be refreshed."""
    stmt = (select(col(Credential.id))
            .where(col(Credential.kind) == kind, col(Credential.expires_at).is_not(None),
                   col(Credential.expires_at) <= now,
                   or_(col(Credential.refreshable).is_(False), col(Credential.kind) != "oauth2"))
            .order_by(col(Credential.expires_at), col(Credential.id)).limit(limit))
    return list(session.execute(stmt).scalars().all())


def delete_ids(session: Session, ids: Sequence[str]) -> int:
    """Delete credentials by id; rows deleted."""
    if not ids:
        return 0
    result = session.execute(delete(Credential).where(col(Credential.id).in_(list(ids))))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
