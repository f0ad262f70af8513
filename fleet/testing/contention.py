"""Concurrent claimers in separate OS processes, for the contention test and bench.

Two shapes:

- :func:`run_claimers`: each process claims the oldest queued run with
  ``leases.claim_next`` until none is left, recording what it won.
- :func:`run_message_claimers`: the path a worker takes for every message.
  The processes take run ids from ONE shared queue (a stand-in for the
  broker), in small batches as a worker prefetches, and claim each with
  ``leases.claim`` in a new session, exactly as
  :func:`fleet.worker.execution.execute_message` does. Some ids are in the
  queue twice (duplicate deliveries); each process counts the statements and
  the time a dropped delivery cost.
"""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event, insert
from sqlmodel import Session

from fleet.runs import leases
from fleet.store import graphs
from fleet.store.db import make_engine, session_factory
from fleet.store.models import Run
from fleet.store.types import new_id
from fleet.testing.graphs import delay_chain


@dataclass
class ClaimerResult:
    """What one claimer process won."""

    runtime_id: str
    claims: list[tuple[str, str]]  # (run_id, lease_id)
    started: float  # wall-clock start and end (time.time())
    ended: float


def seed_queued(database_url: str, count: int, *, with_graph: bool = False) -> list[str]:
    """Insert ``count`` queued runs in one statement; returns their ids.

    ``with_graph`` also stores their graph (``g`` version 1, a 3-node chain), so
    that a claim reads a real definition, as a worker's does.
    """
    now = datetime.now(UTC)
    ids = [new_id() for _ in range(count)]
    rows = [{"id": i, "user_id": "bench", "graph_id": "g", "graph_version": 1,
             "state": "queued", "inputs": {}, "created_at": now, "queued_at": now,
             "attempt_count": 0, "max_attempts": 3, "cancel_requested": False,
             "node_count": 0, "node_error_count": 0, "cost": 0.0} for i in ids]
    engine = make_engine(database_url)
    with Session(engine) as session:
        if with_graph and graphs.get(session, "bench", "g") is None:
            graphs.add_version(session, graph_id="g", user_id="bench", name="g",
                               description="", definition=delay_chain("g", [0, 0]),
                               timeout_s=600, max_attempts=3, now=now)
        session.execute(insert(Run), rows)
        session.commit()
    engine.dispose()
    return ids


def _claim_until_empty(database_url: str, runtime_id: str, queue: mp.Queue,
                       go: Any) -> None:
    engine = make_engine(database_url, pool_size=1)
    with engine.connect():  # connect before the start line, not after
        pass
    claims: list[tuple[str, str]] = []
    queue.put("ready")
    go.wait()
    started = time.time()
    with Session(engine, expire_on_commit=False) as session:
        while True:
            lease = leases.claim_next(session, datetime.now(UTC), runtime_id, ttl_s=600)
            if lease is None:
                break
            claims.append((lease.run_id, lease.lease_id))
    engine.dispose()
    queue.put(ClaimerResult(runtime_id, claims, started, time.time()))


def wall_seconds(results: list[ClaimerResult]) -> float:
    """From the first claimer's start to the last one's end."""
    return max(r.ended for r in results) - min(r.started for r in results)


def run_claimers(database_url: str, processes: int, timeout_s: float = 300) -> list[ClaimerResult]:
    """Start ``processes`` claimers at once and collect their results."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    go = ctx.Event()
    return _start_together(ctx, [(_claim_until_empty, (database_url, f"claimer-{i}", queue, go))
                                 for i in range(processes)], queue, go, timeout_s)


def _start_together(ctx: Any, targets: list[tuple[Any, tuple[Any, ...]]], out: Any, go: Any,
                    timeout_s: float) -> list[Any]:
    """Start one process per (target, args); once every one says "ready" on ``out``, set
    ``go``, then collect one result from each."""
    procs = [ctx.Process(target=target, args=args) for target, args in targets]
    for p in procs:
        p.start()
    try:
        for _ in procs:  # every claimer imported and connected
            assert out.get(timeout=timeout_s) == "ready"
        go.set()
        return [out.get(timeout=timeout_s) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()


@dataclass
class MessageClaimerResult:
    """What one message-driven claimer process did."""

    runtime_id: str
    claims: list[tuple[str, str]]  # (run_id, lease_id) won
    claim_s: float  # total time of the claims won
    dropped: int  # deliveries of a run that was not claimable (duplicates)
    dropped_s: float  # their total time
    dropped_max_s: float  # the slowest of them
    dropped_statements: int  # SQL statements the dropped deliveries issued (not BEGIN)
    started: float  # wall-clock start and end (time.time())
    ended: float
    cpu_s: float = 0.0  # this process's CPU time (user + system) while claiming
    errors: list[str] = field(default_factory=list)
    claim_times: list[float] = field(default_factory=list)  # each claim won, in seconds


def deliveries(run_ids: Sequence[str], *, every: int = 10, lag: int = 100) -> list[str]:
    """The order a broker delivers ``run_ids`` in, with duplicate deliveries.

    Every ``every``-th run is delivered a second time ``lag`` deliveries after
    its first (a redelivery after its first delivery was claimed, as
    at-least-once brokers do), the tail's duplicates at the end.
    """
    out: list[str] = []
    for i, run_id in enumerate(run_ids):
        out.append(run_id)
        j = i - lag
        if j >= 0 and j % every == 0:
            out.append(run_ids[j])
    start = max(0, len(run_ids) - lag)
    out.extend(run_ids[j] for j in range(start, len(run_ids)) if j % every == 0)
    return out


_NOT_QUERIES = ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "END")


def count_statements(engine: Engine, counter: list[int]) -> None:
    """Count in ``counter[0]`` the SQL statements ``engine``'s connections run, at the
    driver: the claim goes to the driver's cursor directly, past SQLAlchemy's execution
    events. Transaction control and SQLite's pragmas are not counted."""

    def tally(sql: str) -> None:
        if not sql.lstrip().upper().startswith(_NOT_QUERIES):
            counter[0] += 1

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        if isinstance(dbapi_conn, sqlite3.Connection):
            dbapi_conn.set_trace_callback(tally)
            return
        base = dbapi_conn.cursor_factory

        class Counting(base):  # type: ignore[misc, valid-type]
            def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                tally(query if isinstance(query, str) else "query")
                return super().execute(query, *args, **kwargs)

        dbapi_conn.cursor_factory = Counting


def _claim_messages(database_url: str, runtime_id: str, source: mp.Queue, out: mp.Queue,
                    go: Any) -> None:
    engine = make_engine(database_url, pool_size=1)
    statements = [0]
    count_statements(engine, statements)
    with engine.connect():  # connect before the start line, not after
        pass
    open_session = session_factory(engine)
    result = MessageClaimerResult(runtime_id, [], 0.0, 0, 0.0, 0.0, 0, 0.0, 0.0)
    out.put("ready")
    go.wait()
    result.started, cpu = time.time(), time.process_time()
    while (batch := source.get()) is not None:
        for run_id in batch:
            before, t0 = statements[0], time.perf_counter()
            try:
                with open_session() as session:  # as execute_message: a session per message
                    lease = leases.claim(session, run_id, datetime.now(UTC), runtime_id,
                                         ttl_s=600)
            except Exception as exc:  # reported, not raised: the bench counts them
                result.errors.append(f"{run_id}: {exc!r}"[:300])
                continue
            took = time.perf_counter() - t0
            if lease is not None:
                result.claims.append((lease.run_id, lease.lease_id))
                result.claim_s += took
                result.claim_times.append(took)
            else:
                result.dropped += 1
                result.dropped_s += took
                result.dropped_max_s = max(result.dropped_max_s, took)
                result.dropped_statements += statements[0] - before
    result.ended, result.cpu_s = time.time(), time.process_time() - cpu
    engine.dispose()
    out.put(result)


def run_message_claimers(database_url: str, processes: int, messages: Sequence[str], *,
                         prefetch: int = 4, timeout_s: float = 300) -> list[MessageClaimerResult]:
    """Start ``processes`` message-driven claimers at once on one shared queue of
    ``messages`` (run ids, taken ``prefetch`` at a time); collect their results."""
    ctx = mp.get_context("spawn")
    source: mp.Queue = ctx.Queue()
    out: mp.Queue = ctx.Queue()
    go = ctx.Event()
    for start in range(0, len(messages), prefetch):
        source.put(list(messages[start:start + prefetch]))
    for _ in range(processes):
        source.put(None)
    return _start_together(ctx, [(_claim_messages,
                                  (database_url, f"claimer-{i}", source, out, go))
                                 for i in range(processes)], out, go, timeout_s)


def message_wall_seconds(results: Sequence[MessageClaimerResult]) -> float:
    """From the first claimer's start to the last one's end."""
    return max(r.ended for r in results) - min(r.started for r in results)
