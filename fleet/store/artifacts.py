"""Queries on artifacts. Nothing here commits.

The expired-files cleanup pages through :func:`expired_page` by id and claims
each page with :func:`claim` (a conditional UPDATE with a token), so two
cleanups running at once never delete the same file twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlmodel import Session, col

from fleet.store.models import Artifact


def add(session: Session, artifact: Artifact) -> Artifact:
    """Insert an artifact row (flushed, not committed)."""
    session.add(artifact)
    session.flush()
    return artifact


def get_owned(session: Session, user_id: str, artifact_id: str) -> Artifact | None:
    """The user's artifact, or None (another user's artifact looks missing)."""
    stmt = select(Artifact).where(col(Artifact.user_id) == user_id,
                                  col(Artifact.id) == artifact_id)
    return session.execute(stmt).scalars().first()


def list_for_user(session: Session, user_id: str, *, run_id: str | None = None,
                  limit: int = 200) -> list[Artifact]:
    """The user's artifacts, newest first (optionally one run's)."""
    stmt = select(Artifact).where(col(Artifact.user_id) == user_id)
    if run_id is not None:
        stmt = stmt.where(col(Artifact.run_id) == run_id)
    stmt = stmt.order_by(col(Artifact.created_at).desc(), col(Artifact.id)).limit(limit)
    return list(session.execute(stmt).scalars().all())


def delete_owned(session: Session, user_id: str, artifact_id: str) -> int:
    """Delete the user's artifact row; rows deleted."""
    result = session.execute(delete(Artifact).where(col(Artifact.user_id) == user_id,
                                                    col(Artifact.id) == artifact_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def expired_page(session: Session, now: datetime, after_id: str, limit: int) -> list[str]:
    """One page of ids of artifacts expired at ``now``, after ``after_id`` in id order.

    An artifact without ``expires_at`` is never listed.
    """
    stmt = (select(col(Artifact.id))
            .where(col(Artifact.expires_at).is_not(None), col(Artifact.expires_at) <= now,
                   col(Artifact.id) > after_id)
            .order_by(col(Artifact.id)).limit(limit))
    return list(session.execute(stmt).scalars().all())


def claim(session: Session, ids: Sequence[str], token: str, now: datetime,
          until: datetime) -> list[Artifact]:
    """Claim the unclaimed (or stale-claimed) rows among ``ids`` for ``token``; the rows won."""
    if not ids:
        return []
    session.execute(
        update(Artifact)
        .where(col(Artifact.id).in_(list(ids)),
               or_(col(Artifact.cleanup_until).is_(None), col(Artifact.cleanup_until) <= now))
        .values(cleanup_token=token, cleanup_until=until)
        .execution_options(synchronize_session=False))
    stmt = select(Artifact).where(col(Artifact.id).in_(list(ids)),
                                  col(Artifact.cleanup_token) == token)
    return list(session.execute(stmt.execution_options(populate_existing=True)).scalars().all())


def delete_claimed(session: Session, ids: Sequence[str], token: str) -> int:
    """Delete the rows among ``ids`` still claimed by ``token``; rows deleted."""
    if not ids:
        return 0
    result = session.execute(delete(Artifact).where(col(Artifact.id).in_(list(ids)),
                                                    col(Artifact.cleanup_token) == token))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def release(session: Session, ids: Sequence[str], token: str) -> None:
    """Give back the claim on rows whose file could not be deleted (retried next tick)."""
    if not ids:
        return
    session.execute(update(Artifact)
                    .where(col(Artifact.id).in_(list(ids)), col(Artifact.cleanup_token) == token)
                    .values(cleanup_token=None, cleanup_until=None)
                    .execution_options(synchronize_session=False))
