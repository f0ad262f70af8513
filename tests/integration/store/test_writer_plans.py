"""PostgreSQL: the writer's statements reach ``runs`` by primary key, whatever the state
indexes hold.

A state index keeps an entry for every row version that was ``running`` until VACUUM
removes it, so between two autovacuums on a busy fleet ``state = 'running'`` matches
tens of thousands of dead entries. A statement planned through such an index costs in
proportion to the runs finished since the last vacuum (PostgreSQL's CPU per run doubled
over a 20 000-run backlog before the statements were written to avoid it). Checked
with custom and generic plans (psycopg prepares a statement it sees repeatedly).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from psycopg import sql as psql
from sqlalchemy import Engine, text
from sqlmodel import Session

from fleet.runs import fsm, leases
from fleet.runs.writer import event_row
from fleet.store import hotpath, pgsql
from fleet.store.db import make_engine
from fleet.store.models import RunState
from fleet.store.types import new_id
from tests.helpers import make_run

pytestmark = pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)

DEAD_RUNS = 3000


@pytest.fixture
def busy_runs(engine: Engine, now: datetime) -> Iterator[None]:
    """DEAD_RUNS runs that went queued, running, completed, with no vacuum since."""
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE runs SET (autovacuum_enabled = false)"))
        conn.execute(text(
            "INSERT INTO runs (id, user_id, graph_id, graph_version, state, inputs, credentials,"
            " attempt_count, max_attempts, cancel_requested, created_at, run_time_s, node_count,"
            " node_error_count, cost, send_count) SELECT 'old-' || g, 'alice', 'g1', 1, 'queued',"
            " '{}', '{}', 0, 3, false, :now, 0, 0, 0, 0, 0 FROM generate_series(1, :n) AS g"),
            {"now": now, "n": DEAD_RUNS})
    for values in ({"state": "running", "lease_id": "old", "lease_until": now,
                    "runtime_id": "rt-old", "started_at": now},
                   {"state": "completed", "lease_id": None, "lease_until": None,
                    "completed_at": now}):
        with engine.begin() as conn:  # one transaction each: two row versions per run
            conn.execute(text("UPDATE runs SET " + ", ".join(f"{k} = :{k}" for k in values)
                              + " WHERE id LIKE 'old-%'"), values)
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE runs RESET (autovacuum_enabled)"))


def _statements(session: Session, now: datetime) -> list[tuple[str, dict[str, Any]]]:
    run = make_run(session, now)
    lease = leases.claim(session, run.id, now, "rt-1")
    assert lease is not None
    node_run = {"id": new_id(), "run_id": run.id, "node_id": "a", "block_id": "constant",
                "exec_key": "a:x:0", "state": "completed", "inputs": {},
                "outputs": [["value", 1]], "error": None, "attempt": 1, "started_at": now,
                "completed_at": now, "wall_time_s": 0.0, "resume": None, "cost": 0.0,
                "node_attempt": 1}
    event = event_row(run_id=run.id, at=now, kind="output", source_node="a",
                      source_pin="value", data=1)
    finish = {**fsm.entry_values(RunState.COMPLETED, now + timedelta(seconds=1)),
              "node_count": 1, "outputs": {"a": 1}}
    return hotpath.pipelined_statements([(run.id, lease.lease_id)],
                                        [(lease.lease_id, node_run)],
                                        [(lease.lease_id, event)],
                                        [(run.id, lease.lease_id, finish)])


def _runs_scans(plan: dict[str, Any]) -> list[str]:
    """How ``plan`` reads ``runs``: the name of each index it scans, ``Seq Scan`` for a
    sequential scan (a bitmap heap scan reads through its index scans)."""
    found = []
    index = str(plan.get("Index Name", ""))
    if index.startswith(("ix_runs_", "runs_")):
        found.append(index)
    elif plan.get("Relation Name") == "runs" and plan["Node Type"] == "Seq Scan":
        found.append("Seq Scan")
    for child in plan.get("Plans", []):
        found += _runs_scans(child)
    return found


def _numbered(sql: str) -> tuple[str, list[str]]:
    """``sql`` with its ``%(name)s`` placeholders as ``$1, $2...``, and the names in order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    return re.sub(r"%\((\w+)\)s", number, sql), names


def _explain(engine: Engine, sql: str, params: dict[str, Any], mode: str) -> list[str]:
    """The ``runs`` scans of ``sql`` prepared server-side and planned in ``mode``."""
    body, names = _numbered(sql)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(f"SET plan_cache_mode = {mode}")
        cur.execute(f"PREPARE probe AS {body}")
        cur.execute(psql.SQL("EXPLAIN (FORMAT JSON) EXECUTE probe({})").format(
            psql.SQL(", ").join(psql.Literal(params[n]) for n in names)))
        row = cur.fetchone()
        assert row is not None
        return _runs_scans(row[0][0]["Plan"])
    finally:
        raw.invalidate()  # not back to the pool: the SET and PREPARE stay with it


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
def test_each_writer_statement_reads_runs_by_primary_key_only(
        engine: Engine, session: Session, now: datetime, busy_runs: None, mode: str) -> None:
    statements = _statements(session, now)
    assert len(statements) == 4  # fence, node runs, events, finish
    for sql, params in statements:
        scans = _explain(engine, sql, params, mode)
        assert scans, f"no read of runs in the plan of: {sql[:80]}"
        assert set(scans) == {"runs_pkey"}, (mode, sql[:80], scans)


def test_the_writer_reuses_its_generic_plans(db_url: str, session: Session,
                                              now: datetime) -> None:
    """PostgreSQL judged the writer's generic plans dearer than custom ones and planned
    each execution anew (0.2 ms of its CPU per run); the writer's transaction asks for
    the generic plans, which the test above shows are as good."""
    engine = make_engine(db_url, pool_size=1)
    try:
        for i in range(8):  # psycopg prepares from the 5th execution, PostgreSQL decides after
            run = make_run(session, now)
            lease = leases.claim(session, run.id, now, "rt-1")
            assert lease is not None
            finish = {**fsm.entry_values(RunState.COMPLETED, now + timedelta(seconds=i)),
                      "node_count": 0}
            with Session(engine) as own:
                held = hotpath.write_pipelined(own, [(run.id, lease.lease_id)], [], [],
                                               [(run.id, lease.lease_id, finish)])
            assert held == {(run.id, lease.lease_id): False}
        raw = engine.raw_connection()  # the pool's one connection: the writer's
        try:
            cur = raw.cursor()
            cur.execute("SELECT statement, generic_plans, custom_plans "
                        "FROM pg_prepared_statements WHERE statement LIKE '%runs%'")
            plans = {row[0].split()[0]: row[1:] for row in cur.fetchall()}
        finally:
            raw.close()
        assert set(plans) >= {"SELECT", "UPDATE"}, plans  # the fence and the finish
        for first, (generic, custom) in plans.items():
            assert custom == 0 and generic >= 3, (first, generic, custom)
    finally:
        engine.dispose()


def test_text_arrays_reach_postgresql_intact(engine: Engine) -> None:
    values = ["plain", "", 'quo"te', "back\\slash", "com,ma", "{brace}", "NULL", "é ü",
              "sp ace"]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT %(a)s::text[], %(b)s::text[]",
                    {"a": pgsql.text_array(values), "b": pgsql.text_array([])})
        assert cur.fetchone() == (values, [])
    finally:
        raw.close()
