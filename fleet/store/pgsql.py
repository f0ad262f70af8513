"""The worker's per-run statements on PostgreSQL, as SQL text built once per shape.

Building a SQLAlchemy statement (a CTE, its column proxies, its cache key) costs
more CPU than PostgreSQL spends running it; on the hot path of a worker that is
the bottleneck (the GIL, not the database). So the statements that every run
issues are plain SQL strings, built once per column set and cached, executed
with ``exec_driver_sql`` (SQLAlchemy still owns the connection, the transaction
and the error translation, so outages are retried as everywhere else). psycopg
prepares a statement it sees repeatedly.

Rows travel as ONE JSON parameter expanded by ``json_to_recordset`` (see
:mod:`fleet.store.bulk`). Results come back as the driver returns them: naive
timestamps are UTC (the store's convention) and are made aware here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Engine, Table
from sqlmodel import Session

from fleet.store import pgdriver
from fleet.store.bulk import payload, recordset
from fleet.store.models import ACTIVE_PREDICATE

CLAIMED = ("id", "lease_id", "user_id", "graph_id", "graph_version", "inputs", "timeout_s",
           "cancel_requested", "wall_time_s", "cpu_time_s", "run_time_s", "attempt_count",
           "lease_until", "node_count", "created_at", "started_at", "credentials")


def text_array(values: Iterable[str]) -> str:
    """``values`` as a PostgreSQL array literal, for a ``%(name)s::text[]`` parameter.

    psycopg adapts a Python list element by element, looking for its element type
    (about a microsecond each, 6 % of a worker's CPU on the writer's few arrays); a
    literal is one string. Every element is quoted, so any text is safe."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for v in values) + "}"


def _run(session: Session, sql: str, params: dict[str, Any]) -> Any:
    return session.connection().exec_driver_sql(sql, params)


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


_CLAIM = f"""
WITH claimed AS (
  UPDATE runs SET state = 'running', lease_id = %(lease_id)s, runtime_id = %(runtime_id)s,
    lease_until = %(lease_until)s, heartbeat_at = %(now)s, started_at = %(now)s,
    state_changed_at = %(now)s, waiting_reason = NULL, attempt_count = attempt_count + 1
  WHERE id = %(run_id)s AND state = 'queued'
  RETURNING {", ".join(CLAIMED)}
), event AS (
  INSERT INTO run_events (run_id, at, kind, from_state, to_state, detail)
  SELECT id, %(now)s, 'transition', 'queued', 'running', %(detail)s || attempt_count::text
  FROM claimed
)
SELECT {", ".join("c." + c for c in CLAIMED)}, g.definition, g.timeout_s
FROM claimed c LEFT JOIN graphs g
  ON g.user_id = c.user_id AND g.id = c.graph_id AND g.version = c.graph_version
"""


def claim(engine: Engine, run_id: str, *, lease_id: str, runtime_id: str,
          lease_until: datetime, now: datetime) -> tuple[Any, ...] | None:
    """Claim, its event and the graph read in one statement: the row (CLAIMED + definition,
    graph timeout), or None when the run is not queued.

    The claim is a whole transaction, so it runs in autocommit on a pooled connection
    of ``engine``: one round trip instead of BEGIN, the statement and COMMIT. The
    statement is atomic on its own (its UPDATE and INSERT commit together or not at
    all), and the row lock it takes is held for that statement only, so a duplicate
    delivery waits at most for one statement, never for a client's COMMIT.
    """
    params = {"run_id": run_id, "lease_id": lease_id, "runtime_id": runtime_id,
              "lease_until": _naive(lease_until), "now": _naive(now),
              "detail": f"claimed by runtime {runtime_id}, attempt "}
    rows = pgdriver.fetch_alone(engine, _CLAIM, params)
    return tuple(_aware(v) for v in rows[0]) if rows else None


_ACTIVE_RUNS = f"""
SELECT s.id, r.id, r.state
FROM unnest(%(ids)s::text[]) AS s(id)
JOIN LATERAL (SELECT id, state FROM runs
              WHERE runs.schedule_id = s.id AND {ACTIVE_PREDICATE}) AS r ON true
"""


def active_runs(session: Session, schedule_ids: Sequence[str]) -> list[tuple[str, str, str]]:
    """``(schedule_id, run_id, state)`` of the schedules' unfinished runs: one probe of the
    partial index ``ix_runs_schedule_active`` per schedule (a long ``IN`` list may make the
    planner walk the state index instead, i.e. every queued run, per batch)."""
    return [tuple(r) for r in _run(session, _ACTIVE_RUNS,
                                   {"ids": text_array(schedule_ids)}).all()]


# Every statement here reaches ``runs`` by its primary key only. A plain
# ``state = 'running'`` lets the planner prefer a bitmap scan of a state index
# joined by hash (it estimates a few running runs, and a JSON recordset at 100
# rows), but a state index also holds an entry for every row version that was
# running and is dead now, until VACUUM: between two autovacuums at a few
# hundred runs a second, that is tens of thousands of entries per statement,
# and PostgreSQL's CPU per run doubled over a 20 000-run backlog. So the state
# test is ``(state = 'running') IS TRUE``, which no index serves, and the
# guards are scalar subqueries (run per row, by key), which are never turned
# into joins.
_RUNNING = "(runs.state = 'running') IS TRUE"

# A row lock, not a no-op UPDATE: an UPDATE writes a new version of the run's row
# (and, when it cannot be HOT, an entry in every index of ``runs``) for nothing.
_FENCE = f"""
SELECT runs.id, runs.lease_id, runs.cancel_requested
FROM runs JOIN unnest(%(ids)s::text[], %(leases)s::text[]) AS w(id, lease)
  ON runs.id = w.id AND runs.lease_id = w.lease
WHERE {_RUNNING}
ORDER BY runs.id
FOR NO KEY UPDATE OF runs
"""




# A guarded insert writes a row only while its run still holds the row's lease ("_lease").
_HOLDS = (" WHERE r._lease = (SELECT runs.lease_id FROM runs WHERE runs.id = r.run_id "
          f"AND {_RUNNING})")


@cache
def _insert_sql(table: Table, columns: tuple[str, ...], conflict: tuple[str, ...],
                protect_state: str | None, accumulate: tuple[str, ...] = (),
                guarded: bool = False) -> str:
    cols = ", ".join(f'"{c}"' for c in columns)
    sql = (f'INSERT INTO "{table.name}" ({cols}) SELECT {cols} FROM '
           f"json_to_recordset(%(rows)s::json) AS r({recordset(table, columns)}"
           + (', "_lease" text)' + _HOLDS if guarded else ")"))
    if conflict:
        sets = ", ".join(f'"{c}" = "{table.name}"."{c}" + EXCLUDED."{c}"' if c in accumulate
                         else f'"{c}" = EXCLUDED."{c}"' for c in columns
                         if c not in conflict and c != "id")
        sql += f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {sets}"
        if protect_state:
            sql += f" WHERE \"{table.name}\".state <> '{protect_state}'"
    return sql




# A finish's derived column: the run's cost is the sum of its node runs' costs.
RUN_COST_SUM = ('"cost" = (SELECT COALESCE(SUM(n.cost), 0) FROM node_runs AS n '
                "WHERE n.run_id = t.id)",)


@cache
def _finish_sql(table: Table, columns: tuple[str, ...], sums: tuple[str, ...]) -> str:
    sets = ", ".join([*(f'"{c}" = r."{c}"' for c in columns), *sums])
    return (f'UPDATE "{table.name}" AS t SET {sets} FROM json_to_recordset(%(rows)s::json) '
            f"AS r(_run text, _lease text, {recordset(table, columns)}) "
            "WHERE t.id = ANY(%(ids)s::text[]) AND t.id = r._run AND t.lease_id = r._lease "
            "AND (t.state = 'running') IS TRUE "
            "RETURNING t.id")


def _finish_shapes(finishes: Sequence[tuple[str, str, dict[str, Any]]]
                   ) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """The finishes' rows grouped by column set (one statement each)."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for run_id, lease_id, values in finishes:
        shapes.setdefault(tuple(sorted(values)), []).append(
            {"_run": run_id, "_lease": lease_id, **values})
    return shapes




def batch_statements(runs: Table, node_runs: Table, events: Table,
                     leases: Sequence[tuple[str, str]],
                     node_rows: Sequence[tuple[str, dict[str, Any]]],
                     event_rows: Sequence[tuple[str, dict[str, Any]]],
                     finishes: Sequence[tuple[str, str, dict[str, Any]]], *,
                     node_conflict: tuple[str, ...], node_accumulate: tuple[str, ...],
                     sums: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    """The statements of :func:`write_batch`, in order, the fence first."""
    pairs = sorted(set(leases))  # one lock order for every writer
    statements: list[tuple[str, dict[str, Any]]] = [
        (_FENCE, {"ids": text_array(p[0] for p in pairs),
                  "leases": text_array(p[1] for p in pairs)})]
    if node_rows:
        # one statement may touch a row once: the last write of an execution wins
        last = {(r["run_id"], r["exec_key"]): {**r, "_lease": lease} for lease, r in node_rows}
        columns = tuple(node_rows[0][1])
        statements.append((_insert_sql(node_runs, columns, node_conflict, "completed",
                                       node_accumulate, guarded=True),
                           {"rows": payload(list(last.values()))}))
    if event_rows:
        columns = tuple(event_rows[0][1])
        statements.append((_insert_sql(events, columns, (), None, guarded=True),
                           {"rows": payload([{**r, "_lease": lease}
                                             for lease, r in event_rows])}))
    statements += [(_finish_sql(runs, columns, sums),
                    {"rows": payload(rows),
                     "ids": text_array(r["_run"] for r in rows)})
                   for columns, rows in _finish_shapes(finishes).items()]
    return statements


# The writer's statements are prepared, but PostgreSQL judged their generic plans dearer
# than custom ones (a JSON recordset is estimated at 100 rows) and planned every
# execution anew: about 0.2 ms of its CPU per run. Their generic plans reach ``runs`` by
# primary key as the custom ones do (tests/integration/store/test_writer_plans.py checks
# both), so this transaction uses them; the setting ends with the transaction.
_GENERIC_PLANS = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)"


def write_batch(engine: Engine, runs: Table, node_runs: Table, events: Table,
                leases: Sequence[tuple[str, str]],
                node_rows: Sequence[tuple[str, dict[str, Any]]],
                event_rows: Sequence[tuple[str, dict[str, Any]]],
                finishes: Sequence[tuple[str, str, dict[str, Any]]], *,
                node_conflict: tuple[str, ...], node_accumulate: tuple[str, ...],
                sums: tuple[str, ...]) -> dict[tuple[str, str], bool]:
    """Checkpoints and finishes of many runs in ONE transaction and one round trip.

    The fence (:data:`_FENCE`) locks the runs whose ``leases`` still hold; node runs
    and events (each ``(lease id, row)``) are inserted only for a run that holds the
    row's lease (a guarded insert: the fence's answer is not known before the pipeline
    is sent), node runs before the finishes (a finish sums its run's node run costs)
    and events before them (their guard wants the run still running). Returns the
    fence's answer: ``(run id, lease id) -> cancel_requested`` for the leases held.
    """
    (fence, fence_params), *rest = batch_statements(
        runs, node_runs, events, leases, node_rows, event_rows, finishes,
        node_conflict=node_conflict, node_accumulate=node_accumulate, sums=sums)
    with pgdriver.pipeline(engine) as pipe:
        pipe.send(_GENERIC_PLANS, {})
        fenced = pipe.send(fence, fence_params, returns=True)
        for sql, params in rest:
            pipe.send(sql, params)
    return {(r[0], r[1]): bool(r[2]) for r in fenced.rows}


# --- the dispatcher's batch (fleet.scheduling.dispatcher) ------------------------------


def _elements(*names: str) -> str:
    """``ROWS FROM`` over JSON arrays given as parameters: row i holds element i of each.
    Arrays travel as one JSON text each (``json.dumps`` of a list is C; adapting a Python
    list to a PostgreSQL array costs about a microsecond per element)."""
    return "ROWS FROM (" + ", ".join(f"json_array_elements_text(%({n})s::json)"
                                     for n in names) + ")"


def _json_or_empty(column: str) -> str:
    return f"CASE json_typeof({column}) WHEN 'null' THEN '{{}}'::json ELSE {column} END"


# The columns fire_runs sets itself; the others take their model defaults.
_FIRE_SETS = {"id", "user_id", "graph_id", "graph_version", "schedule_id", "scheduled_for",
              "state", "inputs", "credentials", "max_attempts", "timeout_s", "created_at",
              "queued_at", "state_changed_at", "last_sent_at", "send_count"}


@cache
def _fire_sql(runs: Table) -> tuple[str, dict[str, Any]]:
    """The statement of :func:`fire_runs` and the defaults it binds: the columns a queued
    run takes from its model's defaults, as create_many's rows do."""
    defaults = {c.name: c.default.arg for c in runs.columns  # type: ignore[attr-defined]
                if c.name not in _FIRE_SETS and c.default is not None
                and getattr(c.default, "is_scalar", False)}
    columns = ", ".join([*sorted(_FIRE_SETS), *defaults])
    values = {"id": "f.id", "user_id": "s.user_id", "graph_id": "s.graph_id",
              "graph_version": "f.version::int", "schedule_id": "s.id",
              "scheduled_for": "f.at::timestamp", "state": "'queued'",
              "inputs": _json_or_empty("s.input_data"),
              "credentials": _json_or_empty("s.credential_refs"),
              "max_attempts": "f.attempts::int", "timeout_s": "f.timeout::float8",
              "created_at": "%(now)s", "queued_at": "%(now)s", "state_changed_at": "%(now)s",
              "last_sent_at": "%(now)s", "send_count": "1"}
    selected = ", ".join([*(values[c] for c in sorted(_FIRE_SETS)),
                          *(f"%(d_{c})s" for c in defaults)])
    sql = f"""
WITH f AS (
  SELECT * FROM {_elements("ids", "sids", "ats", "versions", "attempts", "timeouts", "details")}
    AS f(id, sid, at, version, attempts, timeout, detail)
), ins AS (
  INSERT INTO runs ({columns})
  SELECT {selected} FROM f JOIN schedules s ON s.id = f.sid
  ON CONFLICT (schedule_id, scheduled_for) DO NOTHING
  RETURNING id
), ev AS (
  INSERT INTO run_events (run_id, at, kind, from_state, to_state, detail)
  SELECT ins.id, %(now)s, 'transition', NULL, 'queued', f.detail FROM ins JOIN f ON f.id = ins.id
), upd AS (
  UPDATE schedules AS t SET next_run_at = u.next::timestamp, buffered_for = u.buffered::timestamp,
    last_fired_at = u.last::timestamp, updated_at = %(now)s
  FROM {_elements("uids", "nexts", "buffereds", "lasts")} AS u(id, next, buffered, last)
  WHERE t.id = u.id
)
SELECT id FROM ins
"""
    return sql, {f"d_{c}": v for c, v in defaults.items()}


def fire_runs(session: Session, runs: Table, fires: dict[str, list[Any]],
              updates: dict[str, list[Any]], now: datetime) -> set[str]:
    """The dispatcher's batch in one statement: queued runs of schedules (recorded as sent
    at ``now``) with their first events, and the schedules' new ``next_run_at``,
    ``buffered_for`` and ``last_fired_at``. Returns the ids of the runs inserted: a fire
    already made (same schedule and instant) is skipped.

    ``fires``: lists ``ids``, ``sids`` (schedule), ``ats`` (naive UTC ISO instants),
    ``versions``, ``attempts``, ``timeouts`` and ``details`` (the first event's text);
    a run's owner, graph, inputs and credentials are its schedule's.
    ``updates``: lists ``uids``, ``nexts``, ``buffereds`` and ``lasts`` (naive UTC ISO or None).
    """
    sql, defaults = _fire_sql(runs)
    params: dict[str, Any] = {k: json.dumps(v) for k, v in (*fires.items(), *updates.items())}
    return set(_run(session, sql, {**params, **defaults, "now": _naive(now)}).scalars().all())


@cache
def _due_sql(columns: tuple[str, ...], json_columns: tuple[str, ...]) -> str:
    selected = ", ".join(f"{c}::text" if c in json_columns else c for c in columns)
    return (f"SELECT {selected} FROM schedules "
            "WHERE paused IS false AND next_run_at <= %(now)s ORDER BY next_run_at, id "
            "LIMIT %(limit)s FOR UPDATE SKIP LOCKED")


def due_schedules(session: Session, columns: tuple[str, ...], json_columns: tuple[str, ...],
                  now: datetime, limit: int) -> list[tuple[Any, ...]]:
    """``columns`` of up to ``limit`` unpaused schedules due at ``now``, earliest first,
    locked (``SKIP LOCKED``); ``json_columns`` as their JSON text, timestamps naive UTC as
    the driver returns them (the caller converts each distinct value once)."""
    return [tuple(r) for r in _run(session, _due_sql(columns, json_columns),
                                   {"now": _naive(now), "limit": limit}).all()]
