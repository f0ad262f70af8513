"""Queries on API tokens. Nothing here commits."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlmodel import Session, col

from fleet.store.models import ApiToken


def add(session: Session, token: ApiToken) -> ApiToken:
    """Insert a token row (flushed)."""
    session.add(token)
    session.flush()
    return token


def by_prefix(session: Session, prefix: str) -> ApiToken | None:
    """The token with ``prefix``, freshly read, or None."""
    stmt = select(ApiToken).where(col(ApiToken.prefix) == prefix)
    return session.execute(stmt.execution_options(populate_existing=True)).scalars().first()


def by_id(session: Session, token_id: str) -> ApiToken | None:
    """The token with ``token_id``, freshly read, or None."""
    return session.get(ApiToken, token_id, populate_existing=True)


def starting_with(session: Session, prefix: str, limit: int = 10) -> list[ApiToken]:
    """Tokens whose prefix starts with ``prefix`` (to revoke by a short prefix)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    stmt = (select(ApiToken).where(col(ApiToken.prefix).like(f"{escaped}%", escape="\\"))
            .order_by(col(ApiToken.prefix)).limit(limit))
    return list(session.execute(stmt).scalars().all())


def list_tokens(session: Session, *, user_id: str | None = None,
                limit: int = 500) -> list[ApiToken]:
    """Tokens (of one user, or all), newest first."""
    stmt = select(ApiToken)
    if user_id is not None:
        stmt = stmt.where(col(ApiToken.user_id) == user_id)
    stmt = stmt.order_by(col(ApiToken.created_at).desc(), col(ApiToken.id)).limit(limit)
    return list(session.execute(stmt).scalars().all())


def revoke(session: Session, token_id: str, now: datetime) -> bool:
    """Revoke one token unless already revoked; True when this call revoked it."""
    result = session.execute(
        update(ApiToken)
        .where(col(ApiToken.id) == token_id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=now))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def touch(session: Session, token_id: str, now: datetime, every_s: float) -> bool:
    """Record a use at ``now`` unless one was recorded within ``every_s`` (one write per
    token per interval, not one per request)."""
    result = session.execute(
        update(ApiToken)
        .where(col(ApiToken.id) == token_id,
               or_(col(ApiToken.last_used_at).is_(None),
                   col(ApiToken.last_used_at) < now - timedelta(seconds=every_s)))
        .values(last_used_at=now))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def delete_expired(session: Session, now: datetime, limit: int) -> int:
    """Delete up to ``limit`` API tokens past their expiry; how many went."""
    ids = list(session.execute(
        select(col(ApiToken.id)).where(col(ApiToken.expires_at).is_not(None),
                                       col(ApiToken.expires_at) <= now)
        .order_by(col(ApiToken.expires_at)).limit(limit)).scalars().all())
    if not ids:
        return 0
    session.execute(delete(ApiToken).where(col(ApiToken.id).in_(ids)))
    return len(ids)
