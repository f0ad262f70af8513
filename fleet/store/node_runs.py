"""Queries on node runs (the engine's checkpoints). Nothing here commits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel import Session, col

from fleet.store.models import NodeRun, Run

FINISHED = "completed"


def for_run(session: Session, run_id: str) -> list[NodeRun]:
    """Every node run of ``run_id`` in start order."""
    stmt = (select(NodeRun).where(col(NodeRun.run_id) == run_id)
            .order_by(col(NodeRun.started_at), col(NodeRun.id)))
    return list(session.execute(stmt).scalars().all())


def finished(session: Session, run_id: str) -> dict[str, NodeRun]:
    """The run's completed node runs by exec key: what a re-execution replays."""
    stmt = select(NodeRun).where(col(NodeRun.run_id) == run_id,
                                 col(NodeRun.state) == FINISHED)
    return {nr.exec_key: nr for nr in session.execute(stmt).scalars().all()}


def save(session: Session, node_run: NodeRun) -> NodeRun:
    """Insert ``node_run``, replacing an unfinished one with the same exec key.

    A completed node run is never replaced: it is the checkpoint a retry relies on.
    """
    session.execute(delete(NodeRun).where(
        col(NodeRun.run_id) == node_run.run_id, col(NodeRun.exec_key) == node_run.exec_key,
        col(NodeRun.state) != FINISHED))
    session.add(node_run)
    session.flush()
    return node_run


@dataclass(frozen=True)
class Fence:
    """The run as seen by a checkpoint write that still holds the lease."""

    cancel_requested: bool


def fence(session: Session, run_id: str, lease_id: str) -> Fence | None:
    """Lock the run row if ``lease_id`` still holds it; None when the lease is gone.

    The no-op UPDATE takes the row lock for the rest of the transaction, so
    the reaper cannot take the run between this check and the commit of the
    checkpoint written beside it.
    """
    stmt = (update(Run)
            .where(col(Run.id) == run_id, col(Run.lease_id) == lease_id,
                   col(Run.state) == "running")
            .values(lease_id=lease_id)
            .returning(col(Run.cancel_requested)))
    row = session.execute(stmt).first()
    return Fence(bool(row[0])) if row is not None else None


def waiting(session: Session, run_id: str, state: str,
            node_id: str | None = None) -> list[NodeRun]:
    """The run's node runs parked in ``state`` (optionally for one node)."""
    stmt = select(NodeRun).where(col(NodeRun.run_id) == run_id, col(NodeRun.state) == state)
    if node_id is not None:
        stmt = stmt.where(col(NodeRun.node_id) == node_id)
    return list(session.execute(stmt.order_by(col(NodeRun.started_at))).scalars().all())


def finish(session: Session, node_run_id: str, from_state: str, values: dict[str, Any]) -> bool:
    """Set ``values`` on a node run still in ``from_state``; False if it moved meanwhile."""
    stmt = (update(NodeRun)
            .where(col(NodeRun.id) == node_run_id, col(NodeRun.state) == from_state)
            .values(**values).returning(col(NodeRun.id)))
    return session.execute(stmt).first() is not None
