"""The statements a worker issues for every run, in as few round trips as possible.

On PostgreSQL, plain SQL built once (:mod:`fleet.store.pgsql`); on SQLite,
SQLAlchemy Core on the tables (no ORM unit of work, no identity map):

- :func:`claim`: the run moves to ``running`` under a new lease, its
  transition event is written and its graph definition read. On PostgreSQL
  that is ONE statement (data-modifying CTEs), on SQLite two inside the
  caller's ``BEGIN IMMEDIATE`` (the UPDATE returns the graph through
  subqueries, then the event's INSERT), built once: the write lock is held
  while they run, so their Python time is every other writer's wait.
- :func:`write_pipelined` (PostgreSQL): a group of checkpoints and finishes of
  several runs as one transaction sent in one round trip: a row lock on the
  runs whose leases hold, the node runs and events guarded by their lease, the
  finishes (each also sets the run's ``cost`` to the sum of its node runs'
  costs, so the two always agree, however many segments, replays and lost
  leases the run went through).
- On SQLite the same writes are :func:`fence`, :func:`save_node_runs`,
  :func:`add_events` and :func:`finish_many` inside the caller's transaction.

Nothing here commits. Lease times are the ``now`` the caller passes: a worker's
lease clock, which follows the database's (:meth:`fleet.worker.process.WorkerRuntime.lease_now`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, and_, insert, select, tuple_, update
from sqlmodel import Session

from fleet.store import pgsql, sqlitedriver
from fleet.store.db import upsert_insert
from fleet.store.models import Graph, NodeRun, Run, RunEvent
from fleet.store.runs import node_cost_sum

RUNS: Table = Run.__table__  # type: ignore[attr-defined]
NODE_RUNS: Table = NodeRun.__table__  # type: ignore[attr-defined]
EVENTS: Table = RunEvent.__table__  # type: ignore[attr-defined]
GRAPHS: Table = Graph.__table__  # type: ignore[attr-defined]

_CLAIMED = pgsql.CLAIMED

# The run's cost is derived, never passed: the sum of its node runs' costs.
_NODE_COST_SUM = node_cost_sum()


@dataclass(frozen=True)
class ClaimedRow:
    """What executing a claimed run needs, as the claim returned it."""

    id: str
    lease_id: str
    user_id: str
    graph_id: str
    graph_version: int
    inputs: dict[str, Any]
    timeout_s: float | None
    cancel_requested: bool
    wall_time_s: float | None
    cpu_time_s: float | None
    run_time_s: float
    attempt_count: int
    lease_until: datetime
    node_count: int
    created_at: datetime
    started_at: datetime
    credentials: dict[str, Any] | None
    definition: dict[str, Any] | None  # None: the graph version is gone
    graph_timeout_s: float | None

    @property
    def ran_before(self) -> bool:
        """Whether an earlier segment may have left checkpoints to replay."""
        return (self.attempt_count > 1 or self.run_time_s > 0 or self.node_count > 0
                or self.wall_time_s is not None)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


# The SQLite claim: plain SQL built once, run with ``exec_driver_sql`` (as the PostgreSQL
# one is, :mod:`fleet.store.pgsql`). Everything between ``BEGIN IMMEDIATE`` and COMMIT
# runs under the database's write lock, so its Python time is every other writer's
# wait: building, compiling and type-processing SQLAlchemy statements cost more there
# than SQLite spends running them. Two statements: the event's INSERT (it reads the
# attempt the UPDATE will write, and inserts nothing when the run is not queued: then
# the claim stops there), then the UPDATE, which returns the graph through subqueries
# (qualified: inside a subquery an unqualified ``user_id`` would be the graph's own).
# Values are converted here as UTCDateTime and JSON store them on SQLite: naive UTC
# text, JSON text.
_SQLITE_STATE = "SELECT state FROM runs WHERE id = :run_id"
_GRAPH_OF_RUN = ("FROM graphs WHERE graphs.user_id = runs.user_id AND graphs.id = runs.graph_id "
                 "AND graphs.version = runs.graph_version")
_SQLITE_CLAIM_EVENT = """
INSERT INTO run_events (run_id, at, kind, from_state, to_state, detail)
SELECT runs.id, :now, 'transition', 'queued', 'running', :detail || (runs.attempt_count + 1)
FROM runs WHERE runs.id = :run_id AND runs.state = 'queued'
"""
_SQLITE_CLAIM = f"""
UPDATE runs SET state = 'running', lease_id = :lease_id, runtime_id = :runtime_id,
  lease_until = :lease_until, heartbeat_at = :now, started_at = :now,
  state_changed_at = :now, waiting_reason = NULL, attempt_count = attempt_count + 1
WHERE runs.id = :run_id AND runs.state = 'queued'
RETURNING {", ".join("runs." + c for c in _CLAIMED)},
  (SELECT graphs.definition {_GRAPH_OF_RUN}), (SELECT graphs.timeout_s {_GRAPH_OF_RUN})
"""
_JSON_COLUMNS = ("inputs", "credentials")
_TIME_COLUMNS = ("lease_until", "created_at", "started_at")


def _sqlite_time(value: datetime) -> str:
    """A datetime as UTCDateTime stores it on SQLite (naive UTC text; naive is UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_claimed(row: Sequence[Any]) -> ClaimedRow:
    """The UPDATE's raw row as UTCDateTime, JSON and Boolean would have returned it."""
    run = dict(zip(_CLAIMED, row, strict=False))
    for name in _JSON_COLUMNS:
        run[name] = None if run[name] is None else json.loads(run[name])
    for name in _TIME_COLUMNS:
        value = run[name]
        run[name] = None if value is None else (
            datetime.fromisoformat(value).replace(tzinfo=UTC))
    run["cancel_requested"] = bool(run["cancel_requested"])
    definition, graph_timeout_s = row[len(_CLAIMED):]
    return ClaimedRow(**run, definition=None if definition is None else json.loads(definition),
                      graph_timeout_s=graph_timeout_s)


def claim(session: Session, run_id: str, *, lease_id: str, runtime_id: str, ttl_s: float,
          now: datetime) -> ClaimedRow | None:
    """Claim the queued run ``run_id`` as its own committed transaction (None when it is
    not claimable), on a pooled connection of the session's engine (the session must not
    be in a transaction).

    ``now`` is the lease clock: a worker passes the database's time (its own
    clock corrected by the offset it measures), tests pass a fixed instant.
    On PostgreSQL the claim is one statement in autocommit (one round trip; an
    UPDATE of a row that is not queued waits for nothing). On SQLite a claim
    must take the database's write lock (``BEGIN IMMEDIATE``), so one read of
    the run's state first (WAL readers wait for no one) drops a duplicate
    delivery without queueing for it; the read proves nothing, the claim
    re-checks ``state = 'queued'`` under the lock, and its row is converted
    after the lock is let go.
    """
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    if _dialect(session) == "postgresql":
        pg_row = pgsql.claim(engine, run_id, lease_id=lease_id, runtime_id=runtime_id,
                             lease_until=now + timedelta(seconds=ttl_s), now=now)
        return ClaimedRow(*pg_row) if pg_row is not None else None
    state = sqlitedriver.read_alone(engine, _SQLITE_STATE, {"run_id": run_id})
    if state is None or state[0] != "queued":
        return None
    at = _sqlite_time(now)
    params = {"run_id": run_id, "now": at, "lease_id": lease_id, "runtime_id": runtime_id,
              "lease_until": _sqlite_time(now + timedelta(seconds=ttl_s)),
              "detail": f"claimed by runtime {runtime_id}, attempt "}

    def claim_row(cur: sqlite3.Cursor) -> Any:
        cur.execute(_SQLITE_CLAIM_EVENT, params)
        if cur.rowcount == 0:  # not queued: no UPDATE to try
            return None
        cur.execute(_SQLITE_CLAIM, params)
        return cur.fetchone()

    row = sqlitedriver.write_alone(engine, claim_row, f"claim of run {run_id}")
    return None if row is None else _sqlite_claimed(row)


def finished_node_runs(session: Session, run_id: str) -> list[Any]:
    """What a re-execution replays: the run's completed node runs (exec key, outputs,
    times, state, resume, node attempt), its resumed ones (parked sub-graph nodes since
    decided) and its failed ones (their attempts count towards a retry policy's)."""
    stmt = select(NODE_RUNS.c.exec_key, NODE_RUNS.c.outputs, NODE_RUNS.c.started_at,
                  NODE_RUNS.c.completed_at, NODE_RUNS.c.state, NODE_RUNS.c.resume,
                  NODE_RUNS.c.node_attempt).where(
        NODE_RUNS.c.run_id == run_id,
        NODE_RUNS.c.state.in_(("completed", "resumed", "failed")))
    return list(session.execute(stmt).all())


def fence(session: Session, leases: Sequence[tuple[str, str]]) -> dict[tuple[str, str], bool]:
    """SQLite (PostgreSQL: :func:`write_pipelined`). Lock the runs whose
    ``(run id, lease id)`` still hold; their ``cancel_requested``.

    The no-op UPDATE takes the row locks for the rest of the transaction, so the
    reaper cannot take a run between this check and the commit of its checkpoints.
    A pair missing from the answer has lost its lease.
    """
    if not leases:
        return {}
    stmt = (update(RUNS)
            .where(tuple_(RUNS.c.id, RUNS.c.lease_id).in_(list(set(leases))),
                   RUNS.c.state == "running")
            .values(lease_id=RUNS.c.lease_id)
            .returning(RUNS.c.id, RUNS.c.lease_id, RUNS.c.cancel_requested))
    return {(r[0], r[1]): bool(r[2]) for r in session.execute(stmt).all()}


def save_node_runs(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """SQLite (PostgreSQL: :func:`write_pipelined`). Upsert node runs in one statement; a
    completed one is never replaced.

    A node run that is replaced (a parked sub-graph node run again once decided, an
    execution redone after a lost lease) adds the new execution's ``cost`` to its own:
    every execution stored under an exec key is charged once.
    """
    if not rows:
        return
    ins = upsert_insert(session, NodeRun)
    cols = {c: ins.excluded[c] for c in rows[0] if c not in ("id", "run_id", "exec_key")}
    if "cost" in cols:
        cols["cost"] = NODE_RUNS.c.cost + ins.excluded.cost
    stmt = ins.on_conflict_do_update(index_elements=["run_id", "exec_key"], set_=cols,
                                     where=NODE_RUNS.c.state != "completed")
    session.execute(stmt, list(rows))


def add_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """SQLite (PostgreSQL: :func:`write_pipelined`). Insert run events (all with the same
    keys) in one statement."""
    if not rows:
        return
    session.execute(insert(EVENTS), list(rows))


def finish_many(session: Session,
                finishes: Sequence[tuple[str, str, dict[str, Any]]]) -> set[str]:
    """SQLite (PostgreSQL: :func:`write_pipelined`). Write running runs' next states, each
    ``(run id, lease id, values)`` under its lease,
    with ``cost`` = the sum of the run's node runs' costs; the run ids written (one missing
    lost its lease)."""
    if not finishes:
        return set()
    done: set[str] = set()
    for run_id, lease_id, values in finishes:
        stmt = (update(RUNS).where(RUNS.c.id == run_id, RUNS.c.lease_id == lease_id,
                                   RUNS.c.state == "running")
                .values(**values, cost=_NODE_COST_SUM).returning(RUNS.c.id))
        if session.execute(stmt).first() is not None:
            done.add(run_id)
    return done


def pipelined(session: Session) -> bool:
    """Whether :func:`write_pipelined` serves this session's database (PostgreSQL)."""
    return _dialect(session) == "postgresql"


# How the writer's batch writes node runs (an execution's row is upserted, its cost
# summed) and finishes (the run's cost is the sum of its node runs').
WRITE_SHAPE: dict[str, Any] = {"node_conflict": ("run_id", "exec_key"),
                               "node_accumulate": ("cost",), "sums": pgsql.RUN_COST_SUM}


def pipelined_statements(leases: Sequence[tuple[str, str]],
                         node_rows: Sequence[tuple[str, dict[str, Any]]],
                         event_rows: Sequence[tuple[str, dict[str, Any]]],
                         finishes: Sequence[tuple[str, str, dict[str, Any]]]
                         ) -> list[tuple[str, dict[str, Any]]]:
    """The statements :func:`write_pipelined` sends, as ``(SQL, parameters)`` (their plans
    are tested: each must reach ``runs`` by its primary key)."""
    return pgsql.batch_statements(RUNS, NODE_RUNS, EVENTS, leases, node_rows, event_rows,
                                  finishes, **WRITE_SHAPE)


def write_pipelined(session: Session, leases: Sequence[tuple[str, str]],
                    node_rows: Sequence[tuple[str, dict[str, Any]]],
                    event_rows: Sequence[tuple[str, dict[str, Any]]],
                    finishes: Sequence[tuple[str, str, dict[str, Any]]]
                    ) -> dict[tuple[str, str], bool]:
    """PostgreSQL: what :func:`fence`, :func:`save_node_runs`, :func:`add_events` and
    :func:`finish_many` do, as one transaction sent in one round trip and committed
    (on a pooled connection of the session's engine, not the session's own). Node runs
    and events come as ``(lease id, row)``: a row whose run lost that lease is not
    written. Returns the leases held, with their ``cancel_requested``."""
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    return pgsql.write_batch(engine, RUNS, NODE_RUNS, EVENTS, leases, node_rows, event_rows,
                             finishes, **WRITE_SHAPE)


def claimed_row(run_id: str, lease_id: str) -> Any:
    """The SELECT of a run already claimed under ``lease_id``, shaped as a :class:`ClaimedRow`."""
    return (select(*[RUNS.c[n] for n in _CLAIMED], GRAPHS.c.definition,
                   GRAPHS.c.timeout_s.label("graph_timeout_s"))
            .select_from(RUNS.outerjoin(GRAPHS, and_(GRAPHS.c.user_id == RUNS.c.user_id,
                                                     GRAPHS.c.id == RUNS.c.graph_id,
                                                     GRAPHS.c.version == RUNS.c.graph_version)))
            .where(RUNS.c.id == run_id, RUNS.c.lease_id == lease_id,
                   RUNS.c.state == "running"))
