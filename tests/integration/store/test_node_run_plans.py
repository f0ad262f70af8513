"""A run's node runs are read through ``uq_node_runs_exec_key`` (run id first), on both
databases: ``node_runs`` has no index on ``run_id`` alone (migration 0010), so these
reads must not fall back to scanning every node run ever written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, event, text
from sqlmodel import Session

from fleet.store import hotpath, node_runs
from fleet.store.db import is_sqlite
from fleet.store.types import new_id
from tests.helpers import make_run

RUNS = 400


def _fill(engine: Engine, session: Session, now: datetime) -> str:
    """RUNS runs of 3 node runs each, statistics gathered; one of the runs' ids."""
    ids = [make_run(session, now, commit=False).id for _ in range(RUNS)]
    session.commit()
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO node_runs (id, run_id, node_id, block_id, exec_key, state, inputs,"
            " attempt, node_attempt, cost) VALUES (:id, :run_id, :node, 'constant', :key,"
            " 'completed', '{}', 1, 1, 0)"),
            [{"id": new_id(), "run_id": run_id, "node": f"n{i}", "key": f"n{i}:{run_id}"}
             for run_id in ids for i in range(3)])
        conn.execute(text("ANALYZE"))
    return ids[RUNS // 2]


def _captured(engine: Engine, call: Callable[[], Any]) -> tuple[str, Any]:
    """The one statement ``call`` sends, with its parameters, as the driver got them."""
    seen: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    [found] = [s for s in seen if "node_runs" in s[0]]
    return found


def _plan(engine: Engine, statement: str, parameters: Any) -> str:
    explain = "EXPLAIN QUERY PLAN " if is_sqlite(engine) else "EXPLAIN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(explain + statement, parameters).all()
    return "\n".join(" ".join(str(v) for v in row) for row in rows)


def test_a_runs_node_runs_are_read_through_the_exec_key_index(
        engine: Engine, session: Session, now: datetime) -> None:
    run_id = _fill(engine, session, now)
    reads = {"for_run": lambda: node_runs.for_run(session, run_id),
             "finished_node_runs": lambda: hotpath.finished_node_runs(session, run_id)}
    for name, call in reads.items():
        plan = _plan(engine, *_captured(engine, call))
        session.rollback()
        if is_sqlite(engine):  # the UNIQUE constraint's index is SQLite's autoindex
            assert "SEARCH node_runs USING INDEX sqlite_autoindex_node_runs" in plan, \
                f"{name}:\n{plan}"
        else:
            assert "uq_node_runs_exec_key" in plan and "Seq Scan" not in plan, \
                f"{name}:\n{plan}"
