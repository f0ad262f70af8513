"""Read-side lookups of the command line: id prefixes, owners, queue positions, links.

Every query that answers for a user filters by that user (``user_id=None``
means an operator looking at everyone's rows), so a prefix never matches,
counts or names another user's object. Nothing here writes or commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from fleet.store.models import Alert, Artifact, Credential, Graph, Run, Runtime, Schedule

# The objects whose ids are generated (32 hex characters) and may be shortened.
PREFIXED: dict[str, Any] = {
    "run": Run,
    "schedule": Schedule,
    "credential": Credential,
    "artifact": Artifact,
}


def ids_with_prefix(session: Session, kind: str, prefix: str, *, user_id: str | None,
                    limit: int = 10) -> list[str]:
    """Ids of ``kind`` starting with ``prefix`` (the user's own, or anyone's for None), sorted.

    At most ``limit`` ids: enough to tell "one" from "several" and to name a few.
    """
    model = PREFIXED[kind]
    stmt = select(col(model.id)).where(col(model.id).startswith(prefix, autoescape=True))
    if user_id is not None:
        stmt = stmt.where(col(model.user_id) == user_id)
    stmt = stmt.order_by(col(model.id)).limit(limit)
    return list(session.execute(stmt).scalars().all())


def graph_owners(session: Session, graph_id: str, limit: int = 10) -> list[str]:
    """The users who have a graph with id ``graph_id`` (graph ids are per owner), sorted."""
    stmt = (select(col(Graph.user_id)).where(col(Graph.id) == graph_id).distinct()
            .order_by(col(Graph.user_id)).limit(limit))
    return list(session.execute(stmt).scalars().all())


def queue_position(session: Session, run: Run) -> int:
    """How many queued runs were queued before ``run`` (0: it is next)."""
    since = run.queued_at or run.created_at
    stmt = select(func.count()).select_from(Run).where(
        col(Run.state) == "queued", col(Run.id) != run.id,
        func.coalesce(col(Run.queued_at), col(Run.created_at)) < since)
    return int(session.execute(stmt).scalar_one())


def online_runtimes(session: Session) -> list[Runtime]:
    """The runtimes (worker processes) currently marked online, most recently seen first."""
    stmt = (select(Runtime).where(col(Runtime.status) == "online")
            .order_by(col(Runtime.last_seen_at).desc()))
    return list(session.execute(stmt).scalars().all())


def retries_of(session: Session, run_id: str, limit: int = 50) -> list[str]:
    """Ids of the runs created as retries of ``run_id``, oldest first."""
    stmt = (select(col(Run.id)).where(col(Run.retry_of) == run_id)
            .order_by(col(Run.created_at), col(Run.id)).limit(limit))
    return list(session.execute(stmt).scalars().all())


def alerts_for(session: Session, *, user_id: str | None, state: str | None = None,
               kind: str | None = None, limit: int = 100) -> list[Alert]:
    """Alerts addressed to ``user_id`` (None: every alert), most recently seen first."""
    stmt = select(Alert)
    if user_id is not None:
        stmt = stmt.where(col(Alert.user_id) == user_id)
    if state is not None:
        stmt = stmt.where(col(Alert.state) == state)
    if kind is not None:
        stmt = stmt.where(col(Alert.kind) == kind)
    stmt = stmt.order_by(col(Alert.last_seen_at).desc(), col(Alert.id)).limit(limit)
    return list(session.execute(stmt).scalars().all())
