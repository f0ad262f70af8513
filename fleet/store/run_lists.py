"""The run reads of the API and dashboard: filtered lists (newest first, keyset-paginated),
a run's events and retries, and the conditions batch operations repeat in their UPDATEs.

Every list reads one page through an index on ``(filter column(s), created_at, id)``
(see the ``ix_runs_*_created`` indexes of :mod:`fleet.store.models.runs`), and a count
stops at ``cap + 1`` rows instead of scanning the table. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, func, or_, select, tuple_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from fleet.store.models import Run, RunEvent


@dataclass(frozen=True)
class Where:
    """The run filter as the store sees it (built by :mod:`fleet.runs.filters`)."""

    states: tuple[str, ...] = ()
    graph_id: str | None = None
    user_id: str | None = None
    schedule_id: str | None = None
    error_code: str | None = None
    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive
    nothing: bool = False  # matches no run (a caller naming a user they may not see)

    def conditions(self) -> list[ColumnElement[bool]]:
        """SQL conditions of this filter."""
        conds: list[ColumnElement[bool]] = [false()] if self.nothing else []
        if len(self.states) == 1:
            conds.append(col(Run.state) == self.states[0])
        elif self.states:
            conds.append(col(Run.state).in_(list(self.states)))
        if self.graph_id is not None:
            conds.append(col(Run.graph_id) == self.graph_id)
        if self.user_id is not None:
            conds.append(col(Run.user_id) == self.user_id)
        if self.schedule_id is not None:
            conds.append(col(Run.schedule_id) == self.schedule_id)
        if self.error_code is not None:
            conds.append(col(Run.error_code) == self.error_code)
        if self.created_from is not None:
            conds.append(col(Run.created_at) >= self.created_from)
        if self.created_to is not None:
            conds.append(col(Run.created_at) < self.created_to)
        return conds


Key = tuple[datetime, str]
"""A position in a list: ``(created_at, id)`` of the last row shown."""


def _before(key: Key) -> ColumnElement[bool]:
    # A row value comparison: one index range on (created_at, id), on both databases.
    return tuple_(col(Run.created_at), col(Run.id)) < tuple_(key[0], key[1])


def page(session: Session, where: Where, *, limit: int, after: Key | None = None,
         extra: Sequence[ColumnElement[bool]] = ()) -> list[Run]:
    """Up to ``limit`` runs matching ``where``, newest first, after the key ``after``."""
    stmt = select(Run).where(*where.conditions(), *extra)
    if after is not None:
        stmt = stmt.where(_before(after))
    stmt = stmt.order_by(col(Run.created_at).desc(), col(Run.id).desc()).limit(limit)
    return list(session.execute(stmt).scalars().all())


def keys(session: Session, where: Where, *, limit: int, after: Key | None = None,
         extra: Sequence[ColumnElement[bool]] = ()) -> list[tuple[str, datetime]]:
    """``(id, created_at)`` of up to ``limit`` matching runs, newest first (batch operations)."""
    stmt = select(col(Run.id), col(Run.created_at)).where(*where.conditions(), *extra)
    if after is not None:
        stmt = stmt.where(_before(after))
    stmt = stmt.order_by(col(Run.created_at).desc(), col(Run.id).desc()).limit(limit)
    return [(r[0], r[1]) for r in session.execute(stmt).all()]


def count(session: Session, where: Where, *, cap: int,
          extra: Sequence[ColumnElement[bool]] = ()) -> int:
    """How many runs match, counting at most ``cap + 1`` (more than ``cap`` means "cap+")."""
    inner = select(col(Run.id)).where(*where.conditions(), *extra).limit(cap + 1).subquery()
    return int(session.execute(select(func.count()).select_from(inner)).scalar_one())


def not_retried() -> ColumnElement[bool]:
    """Runs no other run retries yet (index ``ix_runs_retry_of``)."""
    later = aliased(Run)
    return ~select(col(later.id)).where(col(later.retry_of) == col(Run.id)).exists()


def retried_ids(session: Session, run_ids: Sequence[str]) -> set[str]:
    """Which of ``run_ids`` already have a retry."""
    if not run_ids:
        return set()
    stmt = select(col(Run.retry_of)).where(col(Run.retry_of).in_(list(run_ids)))
    return {r for r in session.execute(stmt).scalars().all() if r is not None}


def lock_rows(session: Session, run_ids: Sequence[str]) -> list[Run]:
    """Read and lock ``run_ids`` for this transaction (``FOR UPDATE`` on PostgreSQL; the
    caller holds ``BEGIN IMMEDIATE`` on SQLite), freshly read."""
    if not run_ids:
        return []
    stmt = (select(Run).where(col(Run.id).in_(list(run_ids))).with_for_update()
            .execution_options(populate_existing=True))
    return list(session.execute(stmt).scalars().all())


def events(session: Session, run_id: str, *, limit: int) -> list[RunEvent]:
    """The run's first ``limit`` events in the order they were written (index
    ``(run_id, id)``)."""
    stmt = (select(RunEvent).where(col(RunEvent.run_id) == run_id)
            .order_by(col(RunEvent.id)).limit(limit))
    return list(session.execute(stmt).scalars().all())


def transitions(session: Session, run_id: str, *, limit: int = 1000) -> list[RunEvent]:
    """The run's state transitions in order (its attempts are read from them)."""
    stmt = (select(RunEvent).where(col(RunEvent.run_id) == run_id,
                                   col(RunEvent.kind) == "transition")
            .order_by(col(RunEvent.id)).limit(limit))
    return list(session.execute(stmt).scalars().all())


def count_events(session: Session, run_id: str, cap: int) -> int:
    """The run's events, counted up to ``cap + 1``."""
    inner = (select(col(RunEvent.id)).where(col(RunEvent.run_id) == run_id)
             .limit(cap + 1).subquery())
    return int(session.execute(select(func.count()).select_from(inner)).scalar_one())


def retries_of(session: Session, run_id: str, *, limit: int = 20) -> list[str]:
    """Ids of the runs that retry ``run_id`` (index ``ix_runs_retry_of``)."""
    stmt = (select(col(Run.id)).where(col(Run.retry_of) == run_id)
            .order_by(col(Run.created_at)).limit(limit))
    return list(session.execute(stmt).scalars().all())


def cancellable() -> ColumnElement[bool]:
    """Runs a cancel would change: queued or waiting, or running without a cancel request."""
    return or_(col(Run.state).in_(["queued", "waiting_tool", "waiting_approval"]),
               and_(col(Run.state) == "running", col(Run.cancel_requested).is_(False)))


def cancel_not_requested() -> ColumnElement[bool]:
    """No cancel was requested yet."""
    return col(Run.cancel_requested).is_(False)
