"""Aggregates the monitors read: late runs, block error rates, daily outcomes, weekly stats.

Nothing here commits. Each query is bounded by an index on (state, time) or
(time), so its cost follows the rows it finds, not the size of the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import case, func, select
from sqlmodel import Session, col

from fleet.store.models import TERMINAL_STATES, NodeRun, Run

TERMINAL = sorted(s.value for s in TERMINAL_STATES)
FINISHED = ("completed", "failed", "timeout")  # cancelled runs say nothing about accuracy


# --- late executions ----------------------------------------------------------


@dataclass(frozen=True)
class LateRow:
    """One late run."""

    id: str
    user_id: str
    graph_id: str
    graph_version: int
    state: str
    queued_at: datetime | None
    started_at: datetime | None


def late_runs(session: Session, *, queued_before: datetime, queued_since: datetime,
              running_before: datetime) -> list[LateRow]:
    """Queued runs queued in ``[queued_since, queued_before)`` and running runs started before
    ``running_before``: every late run, read through the (state, time) indexes."""
    cols = (col(Run.id), col(Run.user_id), col(Run.graph_id), col(Run.graph_version),
            col(Run.state), col(Run.queued_at), col(Run.started_at))
    queued = select(*cols).where(col(Run.state) == "queued", col(Run.queued_at) < queued_before,
                                 col(Run.queued_at) >= queued_since)
    running = select(*cols).where(col(Run.state) == "running",
                                  col(Run.started_at) < running_before)
    rows = [*session.execute(queued).all(), *session.execute(running).all()]
    return [LateRow(*r) for r in rows]


# --- block error rates -----------------------------------------------------------


@dataclass(frozen=True)
class BlockStats:
    """Executions and errors of one block in a window."""

    block_id: str
    executions: int
    errors: int

    @property
    def error_rate(self) -> float:
        """Errors over executions (0 when none ran)."""
        return self.errors / self.executions if self.executions else 0.0


def block_stats(session: Session, since: datetime, until: datetime) -> list[BlockStats]:
    """Per block: node executions finished in ``[since, until)`` and how many failed."""
    errors = func.sum(case((col(NodeRun.state) == "failed", 1), else_=0))
    stmt = (select(col(NodeRun.block_id), func.count(), errors)
            .where(col(NodeRun.completed_at) >= since, col(NodeRun.completed_at) < until)
            .group_by(col(NodeRun.block_id)))
    return [BlockStats(r[0], int(r[1]), int(r[2] or 0)) for r in session.execute(stmt).all()]


def block_errors(session: Session, block_id: str, since: datetime, until: datetime,
                 limit: int) -> list[str]:
    """Up to ``limit`` error texts of the block's failed executions in the window."""
    stmt = (select(col(NodeRun.error))
            .where(col(NodeRun.block_id) == block_id, col(NodeRun.completed_at) >= since,
                   col(NodeRun.completed_at) < until, col(NodeRun.state) == "failed",
                   col(NodeRun.error).is_not(None))
            .order_by(col(NodeRun.completed_at).desc()).limit(limit))
    return [e for e in session.execute(stmt).scalars().all() if e]


# --- execution accuracy ------------------------------------------------------------


@dataclass(frozen=True)
class DayStats:
    """One graph's finished runs on one UTC day."""

    graph_id: str
    day: date
    finished: int
    succeeded: int
    scored: int
    score_sum: float


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def daily_outcomes(session: Session, since: datetime, until: datetime) -> list[DayStats]:
    """Per graph and UTC day: finished runs completed in ``[since, until)``."""
    day = func.date(col(Run.completed_at))
    ok = func.sum(case((col(Run.state) == "completed", 1), else_=0))
    scored = func.count(col(Run.correctness_score))
    score_sum = func.coalesce(func.sum(col(Run.correctness_score)), 0.0)
    stmt = (select(col(Run.graph_id), day, func.count(), ok, scored, score_sum)
            .where(col(Run.state).in_(FINISHED), col(Run.completed_at) >= since,
                   col(Run.completed_at) < until)
            .group_by(col(Run.graph_id), day))
    return [DayStats(r[0], _as_date(r[1]), int(r[2]), int(r[3] or 0), int(r[4] or 0),
                     float(r[5] or 0.0)) for r in session.execute(stmt).all()]


# --- weekly summary -------------------------------------------------------------


@dataclass(frozen=True)
class UserGraphStats:
    """One user's finished runs of one graph in one state over a window."""

    user_id: str
    graph_id: str
    state: str
    runs: int
    wall_time_s: float
    cost: float


def user_graph_stats(session: Session, since: datetime, until: datetime) -> list[UserGraphStats]:
    """Per user, graph and terminal state: runs finished in ``[since, until)``."""
    stmt = (select(col(Run.user_id), col(Run.graph_id), col(Run.state), func.count(),
                   func.coalesce(func.sum(col(Run.wall_time_s)), 0.0),
                   func.coalesce(func.sum(col(Run.cost)), 0.0))
            .where(col(Run.completed_at) >= since, col(Run.completed_at) < until,
                   col(Run.state).in_(TERMINAL))
            .group_by(col(Run.user_id), col(Run.graph_id), col(Run.state)))
    return [UserGraphStats(r[0], r[1], r[2], int(r[3]), float(r[4]), float(r[5]))
            for r in session.execute(stmt).all()]


