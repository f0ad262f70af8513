"""Queries on runs and run events.

Every state change is a conditional ``UPDATE ... WHERE state IN (...)``,
optionally fenced by ``lease_id``, returning the ids it changed. Nothing here
commits: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from fleet.store import bulk
from fleet.store.models import Graph, NodeRun, Run, RunEvent, Runtime
from fleet.store.types import UTCDateTime

# Conditional UPDATEs are the point of this module: callers re-read what they
# need, so the ORM need not search its identity map after each one.
_NO_SYNC = {"synchronize_session": False}
RUNS_TABLE = Run.__table__  # type: ignore[attr-defined]
EVENTS_TABLE = RunEvent.__table__  # type: ignore[attr-defined]


def node_cost_sum() -> Any:
    """The sum of a run's node runs' costs, correlated to the run being updated: the value
    of ``cost`` in every UPDATE that ends a run's execution (the executor's finish, a sweep
    failing or timing out a running run), so ``Run.cost`` always equals that sum."""
    return (select(func.coalesce(func.sum(col(NodeRun.cost)), 0.0))
            .where(col(NodeRun.run_id) == col(Run.id)).scalar_subquery())


def get(session: Session, run_id: str, *, fresh: bool = False) -> Run | None:
    """The run with ``run_id``, or None; ``fresh`` re-reads a cached row."""
    return session.get(Run, run_id, populate_existing=fresh)


def insert_queued(session: Session, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Insert new run rows in one statement; returns the ids actually inserted.

    A scheduled fire whose ``(schedule_id, scheduled_for)`` is already present
    is skipped (``ON CONFLICT DO NOTHING``): a second dispatcher cannot
    duplicate it. Runs without a schedule never conflict.
    """
    if not rows:
        return []
    return [str(i) for i in bulk.insert_rows(session, RUNS_TABLE, rows,
                                             conflict=("schedule_id", "scheduled_for"),
                                             returning="id")]


def update_where(
    session: Session,
    ids: Sequence[str],
    *,
    from_states: Iterable[str],
    values: dict[str, Any],
    lease_id: str | None = None,
    extra: Sequence[ColumnElement[bool]] = (),
) -> list[str]:
    """Set ``values`` on the runs among ``ids`` whose state is in ``from_states``.

    ``lease_id`` fences the write to the worker holding that lease; ``extra``
    repeats any further condition the caller decided on (e.g. lease expiry),
    so a concurrent change between the caller's read and this write wins.
    Returns the ids actually changed.
    """
    if not ids:
        return []
    conds: list[ColumnElement[bool]] = [
        col(Run.id).in_(list(ids)),
        col(Run.state).in_(list(from_states)),
        *extra,
    ]
    if lease_id is not None:
        conds.append(col(Run.lease_id) == lease_id)
    stmt = update(Run).where(and_(*conds)).values(**values).returning(col(Run.id))
    return list(session.execute(stmt, execution_options=_NO_SYNC).scalars().all())


def add_events(session: Session, events: Iterable[RunEvent]) -> None:
    """Insert run events (not committed); a bulk INSERT, not a unit-of-work flush."""
    add_event_rows(session, [e.model_dump(exclude={"id"}) for e in events])


def add_event_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert run events given as column dicts (all with the same keys), in one statement."""
    bulk.insert_rows(session, EVENTS_TABLE, rows)


def events(session: Session, run_id: str, *, kind: str | None = None) -> list[RunEvent]:
    """The run's events in the order they were written."""
    stmt = select(RunEvent).where(col(RunEvent.run_id) == run_id)
    if kind is not None:
        stmt = stmt.where(col(RunEvent.kind) == kind)
    return list(session.execute(stmt.order_by(col(RunEvent.id))).scalars().all())


# --- leases -----------------------------------------------------------------


def claim_one(session: Session, run_id: str | None, values: dict[str, Any]) -> Run | None:
    """Move one queued run to running with ``values``; the named one or the oldest.

    With ``run_id=None`` the oldest queued run is taken: on PostgreSQL the
    candidate row is locked with ``FOR UPDATE SKIP LOCKED`` so concurrent
    claimers pass each other; on SQLite the caller holds ``BEGIN IMMEDIATE``.
    The ``state = 'queued'`` condition is repeated in the UPDATE either way.
    """
    target: Any
    if run_id is None:
        target = (
            select(col(Run.id))
            .where(col(Run.state) == "queued")
            .order_by(col(Run.queued_at))
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    else:
        target = run_id
    stmt = (
        update(Run)
        .where(and_(col(Run.id) == target, col(Run.state) == "queued"))
        .values(attempt_count=col(Run.attempt_count) + 1, **values)
        .returning(Run)
    )
    row = session.execute(stmt).scalars().first()
    return row


def extend_leases(
    session: Session, runtime_id: str, lease_ids: Sequence[str], now: datetime, until: datetime,
    run_ids: Sequence[str] = (),
) -> list[tuple[str, str, bool]]:
    """One batched heartbeat: extend every lease still held by ``runtime_id``.

    Returns ``(run_id, lease_id, cancel_requested)`` for each lease still held;
    a lease missing from the answer was lost. ``run_ids`` (the leases' runs) lets
    the UPDATE find the rows by primary key: without them it walks the runtime's
    index entries, which include every dead version of the runs it ran since the
    last VACUUM.
    """
    if not lease_ids:
        return []
    by_id = [col(Run.id).in_(list(run_ids))] if run_ids else []
    stmt = (
        update(Run)
        .where(
            *by_id,
            col(Run.lease_id).in_(list(lease_ids)),
            col(Run.runtime_id) == runtime_id,
            col(Run.state) == "running",
        )
        .values(lease_until=until, heartbeat_at=now)
        .returning(col(Run.id), col(Run.lease_id), col(Run.cancel_requested))
    )
    return [(r[0], r[1], bool(r[2]))
            for r in session.execute(stmt, execution_options=_NO_SYNC).all()]


@dataclass(frozen=True)
class LeaseRow:
    """What the reaper needs to know about one expired lease."""

    id: str
    attempt_count: int
    max_attempts: int
    lease_until: datetime | None
    runtime_id: str | None


def expired_leases(session: Session, now: datetime, limit: int) -> list[LeaseRow]:
    """Running runs whose lease ended before ``now``, oldest first (index-backed)."""
    stmt = (
        select(col(Run.id), col(Run.attempt_count), col(Run.max_attempts), col(Run.lease_until),
               col(Run.runtime_id))
        .where(col(Run.state) == "running", col(Run.lease_until) < now)
        .order_by(col(Run.lease_until))
        .limit(limit)
    )
    return [LeaseRow(*r) for r in session.execute(stmt).all()]



def next_lease_expiry(session: Session) -> datetime | None:
    """The earliest ``lease_until`` among running runs (index-backed), or None."""
    stmt = (select(col(Run.lease_until))
            .where(col(Run.state) == "running", col(Run.lease_until).is_not(None))
            .order_by(col(Run.lease_until)).limit(1))
    return session.execute(stmt).scalars().first()


def held_by_runtime(session: Session, runtime_id: str) -> list[tuple[str, str | None]]:
    """``(run_id, lease_id)`` of every running run held by ``runtime_id``."""
    stmt = select(col(Run.id), col(Run.lease_id)).where(
        col(Run.runtime_id) == runtime_id, col(Run.state) == "running"
    )
    return [(r[0], r[1]) for r in session.execute(stmt).all()]


def count_by_state(session: Session) -> dict[str, int]:
    """Number of runs in each state."""
    rows = session.execute(select(col(Run.state), func.count()).group_by(col(Run.state))).all()
    return {r[0]: int(r[1]) for r in rows}


def list_runs(
    session: Session,
    *,
    state: str | None = None,
    user_id: str | None = None,
    graph_id: str | None = None,
    limit: int = 50,
) -> list[Run]:
    """The newest runs matching the filters."""
    stmt = select(Run)
    if state:
        stmt = stmt.where(col(Run.state) == state)
    if user_id:
        stmt = stmt.where(col(Run.user_id) == user_id)
    if graph_id:
        stmt = stmt.where(col(Run.graph_id) == graph_id)
    stmt = stmt.order_by(col(Run.created_at).desc(), col(Run.id).desc()).limit(limit)
    return list(session.execute(stmt).scalars().all())


def ids_in_state(session: Session, state: str, limit: int) -> list[str]:
    """Some run ids in ``state`` (for tests and tools)."""
    stmt = select(col(Run.id)).where(col(Run.state) == state).limit(limit)
    return list(session.execute(stmt).scalars().all())


def resend_due(now: datetime, *, unsent_after_s: float, resend_after_s: float,
               max_doublings: int = 4) -> ColumnElement[bool]:
    """A queued run whose message may be lost: never sent for ``unsent_after_s``, or sent
    ``n`` times and not claimed for ``resend_after_s * 2**(n-1)`` (at most ``2**max_doublings``).
    """
    never = and_(col(Run.last_sent_at).is_(None),
                 col(Run.queued_at) < now - timedelta(seconds=unsent_after_s))
    waits = [(n, now - timedelta(seconds=resend_after_s * 2 ** (n - 1)))
             for n in range(1, max_doublings + 1)]
    cutoff = case(*[(col(Run.send_count) <= n, literal(when, UTCDateTime()))
                    for n, when in waits],
                  else_=literal(now - timedelta(seconds=resend_after_s * 2 ** max_doublings),
                                UTCDateTime()))
    return or_(never, col(Run.last_sent_at) < cutoff)


def unclaimed_since(session: Session, due: ColumnElement[bool], limit: int) -> list[str]:
    """Queued runs matching ``due`` (see :func:`resend_due`), oldest first: re-send candidates."""
    stmt = (select(col(Run.id)).where(col(Run.state) == "queued", due)
            .order_by(col(Run.queued_at)).limit(limit))
    return list(session.execute(stmt).scalars().all())


def mark_sent(session: Session, run_ids: Sequence[str], now: datetime) -> None:
    """Record that messages for ``run_ids`` were handed to the broker."""
    if run_ids:
        session.execute(
            update(Run).where(col(Run.id).in_(list(run_ids)))
            .values(last_sent_at=now, send_count=col(Run.send_count) + 1),
            execution_options=_NO_SYNC)


def mark_unsent(session: Session, run_ids: Sequence[str], sent_at: datetime) -> None:
    """Undo a send recorded in advance (at ``sent_at``) for ``run_ids`` the broker refused."""
    if run_ids:
        session.execute(
            update(Run).where(col(Run.id).in_(list(run_ids)), col(Run.state) == "queued",
                              col(Run.last_sent_at) == sent_at)
            .values(last_sent_at=None, send_count=col(Run.send_count) - 1),
            execution_options=_NO_SYNC)


# --- named conditions: what a sweep decided on, repeated inside its UPDATE -----


def lease_expired(now: datetime) -> ColumnElement[bool]:
    """Running, with a lease that ended before ``now``."""
    return and_(col(Run.state) == "running", col(Run.lease_until) < now)


def attempts_left(left: bool) -> ColumnElement[bool]:
    """Runs that may (``left``) or may not be retried."""
    if left:
        return col(Run.attempt_count) < col(Run.max_attempts)
    return col(Run.attempt_count) >= col(Run.max_attempts)


def held_by(runtime_ids: Sequence[str]) -> ColumnElement[bool]:
    """Held by one of ``runtime_ids``."""
    return col(Run.runtime_id).in_(list(runtime_ids))


def queued_since_before(before: datetime) -> ColumnElement[bool]:
    """Queued since before ``before``."""
    return col(Run.queued_at) < before


def in_state_since_before(before: datetime) -> ColumnElement[bool]:
    """Entered its current state before ``before`` (waiting runs)."""
    return col(Run.state_changed_at) < before


def started_before(before: datetime) -> ColumnElement[bool]:
    """Started before ``before``."""
    return col(Run.started_at) < before


def runtime_gone() -> ColumnElement[bool]:
    """The run's runtime is unknown, missing or offline."""
    rt = aliased(Runtime)  # never correlated with a Runtime joined by the caller
    online = exists().where(col(rt.id) == col(Run.runtime_id), col(rt.status) == "online")
    return or_(col(Run.runtime_id).is_(None), ~online)


# --- sweep candidates (index-backed, oldest first) ----------------------------


def queued_before(session: Session, before: datetime, limit: int) -> list[str]:
    """Queued runs queued before ``before``, oldest first (queued expiry)."""
    stmt = (select(col(Run.id)).where(col(Run.state) == "queued", col(Run.queued_at) < before)
            .order_by(col(Run.queued_at)).limit(limit))
    return list(session.execute(stmt).scalars().all())


def waiting_since(session: Session, state: str, before: datetime, limit: int) -> list[str]:
    """Runs in waiting ``state`` that entered it before ``before``, oldest first."""
    stmt = (select(col(Run.id))
            .where(col(Run.state) == state, col(Run.state_changed_at) < before)
            .order_by(col(Run.state_changed_at)).limit(limit))
    return list(session.execute(stmt).scalars().all())


@dataclass(frozen=True)
class RunningRow:
    """A running run as the backstop sees it."""

    id: str
    started_at: datetime | None
    timeout_s: float | None  # the run's own, else its graph's
    runtime_id: str | None
    runtime_status: str | None  # None: no such runtime row


def running_started_before(session: Session, before: datetime, limit: int) -> list[RunningRow]:
    """Running runs started before ``before`` whose runtime is gone, oldest first, with their
    timeout and runtime status."""
    stmt = (
        select(col(Run.id), col(Run.started_at), func.coalesce(col(Run.timeout_s),
                                                               col(Graph.timeout_s)),
               col(Run.runtime_id), col(Runtime.status))
        .select_from(Run)
        .outerjoin(Graph, and_(col(Graph.id) == col(Run.graph_id),
                               col(Graph.version) == col(Run.graph_version)))
        .outerjoin(Runtime, col(Runtime.id) == col(Run.runtime_id))
        .where(col(Run.state) == "running", col(Run.started_at) < before,
               runtime_gone())
        .order_by(col(Run.started_at)).limit(limit)
    )
    return [RunningRow(*r) for r in session.execute(stmt).all()]




def still_queued(session: Session, run_ids: Sequence[str]) -> list[str]:
    """Which of ``run_ids`` are still queued."""
    if not run_ids:
        return []
    stmt = select(col(Run.id)).where(col(Run.id).in_(list(set(run_ids))),
                                     col(Run.state) == "queued")
    return list(session.execute(stmt).scalars().all())
