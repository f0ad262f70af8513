"""Keyset pages of graphs and schedules for the API and dashboard. Nothing here commits.

Each page continues after the sort values of the previous page's last row (a row-value
comparison on the index's columns), so a deep page costs what the first one does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, tuple_
from sqlmodel import Session, col

from fleet.store.models import Graph, Schedule

GraphKey = tuple[datetime, str, str]  # (updated_at, user_id, id)
ScheduleKey = tuple[datetime, str]  # (created_at, id)


def graphs(session: Session, *, user_id: str | None, include_archived: bool, limit: int,
           after: GraphKey | None = None) -> list[Graph]:
    """Active versions of graphs (of one user, or everyone's), newest change first."""
    stmt = select(Graph).where(col(Graph.is_active).is_(True))
    if user_id is not None:
        stmt = stmt.where(col(Graph.user_id) == user_id)
    if not include_archived:
        stmt = stmt.where(col(Graph.is_archived).is_(False))
    if after is not None:
        stmt = stmt.where(tuple_(col(Graph.updated_at), col(Graph.user_id), col(Graph.id))
                          < tuple_(*after))
    stmt = stmt.order_by(col(Graph.updated_at).desc(), col(Graph.user_id).desc(),
                         col(Graph.id).desc()).limit(limit)
    return list(session.execute(stmt).scalars().all())


def schedules(session: Session, *, user_id: str | None, graph_id: str | None, limit: int,
              after: ScheduleKey | None = None) -> list[Schedule]:
    """Schedules (of one user, or everyone's; of one graph), oldest first."""
    stmt = select(Schedule)
    if user_id is not None:
        stmt = stmt.where(col(Schedule.user_id) == user_id)
    if graph_id is not None:
        stmt = stmt.where(col(Schedule.graph_id) == graph_id)
    if after is not None:
        stmt = stmt.where(tuple_(col(Schedule.created_at), col(Schedule.id)) > tuple_(*after))
    stmt = stmt.order_by(col(Schedule.created_at), col(Schedule.id)).limit(limit)
    return list(session.execute(stmt).scalars().all())
