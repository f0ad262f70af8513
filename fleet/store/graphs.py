"""Queries on versioned graphs. Nothing here commits.

Graph ids are per owner: ``(user_id, id, version)`` is the key, so two users
can each have a graph ``hello`` and no query answers across owners unless it
says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete as sa_delete
from sqlalchemy import func, select, tuple_, update
from sqlmodel import Session, col

from fleet.store.models import Graph, Run


def _of(user_id: str, graph_id: str) -> tuple[Any, Any]:
    return col(Graph.user_id) == user_id, col(Graph.id) == graph_id


def get(session: Session, user_id: str, graph_id: str, version: int | None = None) -> Graph | None:
    """One of the user's graph versions; with ``version=None`` the graph's active version."""
    if version is not None:
        return session.get(Graph, (user_id, graph_id, version))
    stmt = select(Graph).where(*_of(user_id, graph_id), col(Graph.is_active).is_(True))
    return session.execute(stmt).scalars().first()


def latest_version(session: Session, user_id: str, graph_id: str) -> int:
    """The highest version number the user's ``graph_id`` has given (0: none yet).

    Deleting a graph keeps its runs, which go on naming their version. So a graph
    added again under the same id continues after the highest version its runs
    name instead of starting again at 1: a run's ``(graph, version)`` never comes
    to mean a definition it did not run (nor a retry of it, one it was not
    submitted with)."""
    stmt = select(func.max(col(Graph.version))).where(*_of(user_id, graph_id))
    found = session.execute(stmt).scalar()
    if found is not None:
        return int(found)
    runs = select(func.max(col(Run.graph_version))).where(col(Run.graph_id) == graph_id,
                                                          col(Run.user_id) == user_id)
    return int(session.execute(runs).scalar() or 0)


def add_version(session: Session, *, graph_id: str, user_id: str, name: str, description: str,
                definition: dict[str, Any], timeout_s: float, max_attempts: int,
                now: datetime) -> Graph:
    """Store ``definition`` as the graph's active version.

    An unchanged definition returns the current version; a changed one adds
    version N+1 and makes it the active one.
    """
    current = get(session, user_id, graph_id)
    if (current is not None and current.definition == definition and current.name == name
            and current.timeout_s == timeout_s and current.max_attempts == max_attempts
            and current.description == description and not current.is_archived):
        return current
    version = latest_version(session, user_id, graph_id) + 1
    session.execute(update(Graph).where(*_of(user_id, graph_id))
                    .values(is_active=False, updated_at=now))
    graph = Graph(id=graph_id, version=version, user_id=user_id, name=name,
                  description=description, definition=definition, timeout_s=timeout_s,
                  max_attempts=max_attempts, is_active=True, is_archived=False,
                  created_at=now, updated_at=now)
    session.add(graph)
    session.flush()
    return graph


def list_graphs(session: Session, *, user_id: str | None = None,
                include_archived: bool = False, limit: int = 200) -> list[Graph]:
    """Active versions of graphs (of one user, or everyone's), newest first."""
    stmt = select(Graph).where(col(Graph.is_active).is_(True))
    if user_id is not None:
        stmt = stmt.where(col(Graph.user_id) == user_id)
    if not include_archived:
        stmt = stmt.where(col(Graph.is_archived).is_(False))
    stmt = stmt.order_by(col(Graph.updated_at).desc(), col(Graph.id)).limit(limit)
    return list(session.execute(stmt).scalars().all())


def versions(session: Session, user_id: str, graph_id: str) -> list[Graph]:
    """Every version of the user's ``graph_id``, oldest first."""
    stmt = select(Graph).where(*_of(user_id, graph_id)).order_by(col(Graph.version))
    return list(session.execute(stmt).scalars().all())


def set_archived(session: Session, user_id: str, graph_id: str, archived: bool,
                 now: datetime) -> int:
    """Archive (or unarchive) every version of the user's ``graph_id``; returns rows changed."""
    result = session.execute(update(Graph).where(*_of(user_id, graph_id))
                             .values(is_archived=archived, updated_at=now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def delete(session: Session, user_id: str, graph_id: str) -> int:
    """Delete every version of the user's ``graph_id``; returns rows deleted. Runs keep theirs."""
    result = session.execute(sa_delete(Graph).where(*_of(user_id, graph_id)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def active_batch(session: Session, after: tuple[str, str], limit: int) -> list[Graph]:
    """Active, unarchived graph versions after ``(user_id, id)`` in key order (for indexing)."""
    user_id, graph_id = after
    stmt = (select(Graph)
            .where(col(Graph.is_active).is_(True), col(Graph.is_archived).is_(False),
                   tuple_(col(Graph.user_id), col(Graph.id)) > tuple_(user_id, graph_id))
            .order_by(col(Graph.user_id), col(Graph.id)).limit(limit))
    return list(session.execute(stmt).scalars().all())
