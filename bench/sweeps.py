"""Sweep cost against history, and whether retention keeps up with 1 M runs a day.

cost (the sweep-cost comparison): each sweep's time with a small and a large runs table.
On a throwaway PostgreSQL (or FLEET_TEST_POSTGRES_URL), runs tables are
filled by COPY to 10 000 and to 1 000 000 rows (``--smoke``: 2 000 and
20 000). In both cases the rows the sweeps find are the same: ``--matches``
rows for each sweep (stale runtimes holding runs, unsent queued runs, expired
queued runs, abandoned running runs, waiting runs, late runs, recent node
errors, finished runs for the monitors, offline runtimes, old finished runs);
every other row is history that no sweep should read (cancelled runs finished
8 to 29 days ago, inside no sweep's window). The two tables live in two
databases on one server and are measured in alternation; each sweep is
timed on freshly re-seeded matches, ``--repeats`` times, and the median kept.
The ratio large / small should stay near 1: a sweep's cost follows what it
finds, not the size of the table.

retention: two measures of ``fleet.sweeps.retention.run_once``, each on a fresh
database of the same server, loaded by ``INSERT ... SELECT generate_series``
with finished runs (5 % failed, the rest completed) and, per run,
``--nodes-per-run`` node runs and ``--events-per-run`` run events (two
transitions and outputs), as a real run leaves them.

- backlog: ``--retention-runs`` runs (1 000 000; smoke 20 000), all past
  ``retention_days``, deleted by retention with a generous
  ``retention_budget_s`` (a day), passes counted; seconds, rows/s, and the
  batch times of the first and last tenth of the pass (does it slow down as
  dead rows pile up?).
- steady state: one day's worth of runs at ``--per-day`` (1 000 000 a day,
  smoke 20 000) finishing evenly through the day, 30 days ago; 24 hourly
  passes at the default settings (``retention_batch`` 1000,
  ``retention_budget_s`` 300), the clock one hour further each time, so each
  pass finds the hour (41 667 runs at 1 M/day) that has just expired. Per
  pass: seconds against the 300 s budget, whether anything expired was left;
  after the 24th the whole day must be gone.

Goals, printed beside the figures: every steady pass within its budget and
leaving nothing expired; the day cleared; the backlog rate (runs/s) at least
the rate an hourly pass needs at 1 M/day (41 667 runs in 300 s). ``--smoke``
exits 1 when one is broken (the cost ratios are reported only). Progress on
stderr; the last line of stdout is one JSON object.

    python bench/sweeps.py [--mode cost|retention|all] [--matches 200] [--repeats 5]
                           [--retention-runs 1000000] [--per-day 1000000] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import itertools
import json
import logging
import math
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlmodel import Session  # noqa: E402

from fleet.alerts.service import AlertService  # noqa: E402
from fleet.ports import JobContext, JobSpec  # noqa: E402
from fleet.settings import Settings  # noqa: E402
from fleet.store import migrate  # noqa: E402
from fleet.store.db import make_engine  # noqa: E402
from fleet.sweeps import retention  # noqa: E402
from fleet.testing import InMemoryLiveness, RecordingSender  # noqa: E402
from fleet.testing.alerts import RecordingChannel  # noqa: E402
from fleet.testing.servers import PostgresServer, start_postgres  # noqa: E402

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NAIVE_NOW = NOW.replace(tzinfo=None)
SWEEPS = ("stale_runtimes", "resend", "queued_expiry", "running_backstop", "waiting_timeouts",
          "late_executions", "block_errors", "accuracy", "weekly_summary", "runtime_gc",
          "retention")
RUN_COLS = ("id", "user_id", "graph_id", "graph_version", "state", "inputs", "attempt_count",
            "max_attempts", "cancel_requested", "created_at", "queued_at", "started_at",
            "completed_at", "state_changed_at", "lease_id", "lease_until", "runtime_id",
            "node_count", "node_error_count", "cost", "wall_time_s", "correctness_score")


def _id() -> str:
    return uuid.uuid4().hex


def _run(user: str, state: str, *, graph: str = "g", at: datetime, queued: datetime | None = None,
         started: datetime | None = None, completed: datetime | None = None,
         changed: datetime | None = None, lease_until: datetime | None = None,
         runtime: str | None = None) -> tuple[Any, ...]:
    return (_id(), user, graph, 1, state, "{}", 1, 3, False, at, queued, started, completed,
            changed or at, _id() if lease_until else None, lease_until, runtime, 0, 0, 0.0,
            1.0, None)


def history(n: int) -> Iterator[tuple[Any, ...]]:
    """Cancelled runs finished 8 to 29 days ago: read by no sweep."""
    span = 21 * 86_400
    for i in range(n):
        at = NAIVE_NOW - timedelta(days=8, seconds=(i * 7919) % span)
        yield _run("history", "cancelled", graph=f"h{i % 50}", at=at, queued=at, started=at,
                   completed=at)


def matches(m: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """``m`` matching rows per sweep: (runs, runtimes, node_runs)."""
    n = NAIVE_NOW
    runs: list[tuple[Any, ...]] = []
    runtimes: list[tuple[Any, ...]] = []
    nodes: list[tuple[Any, ...]] = []

    def runtime(rid: str, status: str, seen: datetime, offline: datetime | None) -> None:
        runtimes.append((rid, "bench", 1, "", "[]", 1, "", status, seen, seen, offline, "{}"))

    runtime("rt-live", "online", n, None)
    for i in range(m):
        rid = f"rt-stale-{i}"
        runtime(rid, "online", n - timedelta(minutes=10), None)
        runs.append(_run("u-stale", "running", at=n, started=n - timedelta(minutes=1),
                         lease_until=n + timedelta(minutes=1), runtime=rid))
        runtime(f"rt-gone-{i}", "offline", n - timedelta(days=9), n - timedelta(days=8))
        runs.append(_run("u-resend", "queued", at=n, queued=n - timedelta(minutes=5)))
        runs.append(_run("u-expire", "queued", at=n, queued=n - timedelta(hours=3)))
        runs.append(_run("u-backstop", "running", at=n, started=n - timedelta(hours=3),
                         lease_until=n + timedelta(days=1)))
        runs.append(_run("u-wait", "waiting_tool", at=n, changed=n - timedelta(hours=2)))
        runs.append(_run(f"u-late-{i % 7}", "running", at=n, started=n - timedelta(hours=25),
                         lease_until=n + timedelta(days=1), runtime="rt-live"))
        done = n - timedelta(days=i % 7, hours=1)
        state = "completed" if i % 4 else "failed"
        finished = _run(f"u-{i % 10}", state, graph=f"g{i % 5}", at=done, queued=done,
                        started=done, completed=done)
        runs.append(finished)
        nodes.append((_id(), finished[0], "n", f"block{i % 5}", f"k{i}",
                      "failed" if i % 2 else "completed", "{}",
                      f"error {i} at /srv/x/{i}.csv" if i % 2 else None, 1,
                      n - timedelta(hours=2), n - timedelta(hours=2), 0.1))
        old = n - timedelta(days=31, minutes=i)
        runs.append(_run("u-old", "completed", at=old, queued=old, started=old, completed=old))
    return runs, runtimes, nodes


def _pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def copy_rows(conn: psycopg.Connection[Any], table: str, cols: tuple[str, ...],
              rows: Iterator[tuple[Any, ...]] | list[tuple[Any, ...]]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)


def reseed(url: str, m: int) -> None:
    """Remove everything but the history rows and insert fresh matches."""
    runs, runtimes, nodes = matches(m)
    with psycopg.connect(_pg(url)) as conn:
        conn.execute("TRUNCATE alerts, run_events, node_runs, runtimes, notification_settings")
        conn.execute("DELETE FROM runs WHERE user_id <> 'history'")
        copy_rows(conn, "runs", RUN_COLS, runs)
        copy_rows(conn, "runtimes", ("id", "hostname", "pid", "name", "queues", "concurrency",
                                     "version", "status", "registered_at", "last_seen_at",
                                     "offline_at", "info"), runtimes)
        copy_rows(conn, "node_runs", ("id", "run_id", "node_id", "block_id", "exec_key", "state",
                                      "inputs", "error", "attempt", "started_at", "completed_at",
                                      "wall_time_s"), nodes)
        conn.commit()
    settle(url)


def settle(url: str) -> None:
    """Vacuum and checkpoint outside the timed part, so background work does not skew it."""
    with psycopg.connect(_pg(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE runs, runtimes, node_runs, alerts")
        with contextlib.suppress(psycopg.Error):  # needs superuser (or pg_checkpoint)
            conn.execute("CHECKPOINT")


def grow_history(url: str, total: int, m: int) -> None:
    """Bring the runs table to about ``total`` rows, the extra ones history."""
    per_seed = len(matches(m)[0])
    with psycopg.connect(_pg(url)) as conn:
        have = conn.execute("SELECT count(*) FROM runs WHERE user_id = 'history'").fetchone()
        want = max(0, total - per_seed - int(have[0] if have else 0))
        copy_rows(conn, "runs", RUN_COLS, history(want))
        conn.commit()
    settle(url)


def time_sweeps(urls: dict[str, str], settings: Settings, m: int,
                repeats: int) -> dict[str, dict[str, float]]:
    """Median milliseconds per database and sweep over ``repeats`` freshly seeded passes.

    The databases are measured in alternation, pass by pass, so load from other
    processes on the machine falls on both alike.
    """
    specs: dict[str, JobSpec] = {
        name: importlib.import_module(f"fleet.sweeps.{name}").SWEEP for name in SWEEPS}
    samples: dict[str, dict[str, list[float]]] = {
        label: {name: [] for name in SWEEPS} for label in urls}
    engines = {label: make_engine(url) for label, url in urls.items()}
    try:
        for attempt in range(repeats + 1):  # the first pass warms caches and is dropped
            for label, url in urls.items():
                reseed(url, m)
                s = settings.model_copy(update={"database_url": url})
                ctx = JobContext(settings=s, send_run=RecordingSender(),
                                   liveness=InMemoryLiveness(),
                                   alerts=AlertService.from_settings(
                                       s, channel=RecordingChannel()))
                for name, spec in specs.items():
                    with Session(engines[label], expire_on_commit=False) as session:
                        t0 = time.perf_counter()
                        spec.run_once(session, NOW, ctx)
                        if attempt:
                            samples[label][name].append((time.perf_counter() - t0) * 1000)
    finally:
        for engine in engines.values():
            engine.dispose()
    return {label: {name: statistics.median(v) for name, v in per.items()}
            for label, per in samples.items()}


def second_database(server: PostgresServer, suffix: str = "b") -> str:
    """Create another database on the same server; its URL."""
    name = f"{server.dbname}_{suffix}"
    with psycopg.connect(_pg(server.admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url.rsplit("/", 1)[0] + "/" + name


def drop_database(server: PostgresServer, url: str) -> None:
    """Drop a database made by :func:`second_database`."""
    name = url.rsplit("/", 1)[1]
    with contextlib.suppress(psycopg.Error), \
            psycopg.connect(_pg(server.admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- retention ------------------------------------------------------------------------------

GOAL_PER_DAY = 1_000_000  # the load: runs finished per day, whatever the bench size
LOAD_CHUNK = 100_000  # runs per INSERT statement (with their node runs and events)


def load_finished(url: str, tag: str, n: int, first: datetime, span_s: float, nodes: int,
                  events: int) -> float:
    """Insert ``n`` finished runs completing evenly over ``span_s`` seconds from ``first``,
    each with ``nodes`` node runs and ``events`` run events; returns the seconds it took."""
    step = span_s / n
    t0 = time.perf_counter()
    base = "SELECT i, %(first)s::timestamp + (i * %(step)s::float8) * interval '1 second' AS t " \
           "FROM generate_series(%(lo)s::int, %(hi)s::int) AS i"
    with psycopg.connect(_pg(url)) as conn:
        for lo in range(0, n, LOAD_CHUNK):
            p = {"tag": tag, "first": first.replace(tzinfo=None), "step": step, "lo": lo,
                 "hi": min(n, lo + LOAD_CHUNK) - 1, "nodes": nodes, "events": events}
            conn.execute(
                "INSERT INTO runs (id, user_id, graph_id, graph_version, state, inputs, outputs, "
                "error_code, attempt_count, max_attempts, cancel_requested, created_at, "
                "queued_at, started_at, completed_at, state_changed_at, last_sent_at, "
                "send_count, node_count, node_error_count, cost, wall_time_s, run_time_s) "
                "SELECT md5(%(tag)s || i), 'user' || (i %% 50), 'graph' || (i %% 200), 1, "
                "CASE WHEN i %% 20 = 0 THEN 'failed' ELSE 'completed' END, '{\"n\": 1}', "
                "'{\"out\": {\"value\": 1}}', CASE WHEN i %% 20 = 0 THEN 'E-NODE-001' END, "
                "1, 3, false, t - interval '3 s', t - interval '3 s', t - interval '2 s', t, t, "
                "t - interval '3 s', 1, %(nodes)s, (i %% 20 = 0)::int, 0.0, 2.0, 2.0 "
                f"FROM ({base}) AS s", p)
            conn.execute(
                "INSERT INTO node_runs (id, run_id, node_id, block_id, exec_key, state, inputs, "
                "outputs, attempt, started_at, completed_at, wall_time_s, cost) "
                "SELECT md5(%(tag)s || i || '.' || k), md5(%(tag)s || i), 'n' || k, "
                "CASE WHEN k = 1 THEN 'constant' ELSE 'delay' END, "
                "'n' || k || ':' || md5(%(tag)s || i || ':' || k), 'completed', "
                "'{\"value\": 1}', '[{\"value\": 1}]', 1, "
                "t - interval '2 s' + (k - 1) * interval '0.5 s', "
                "t - interval '2 s' + k * interval '0.5 s', 0.5, 0.0 "
                f"FROM ({base}) AS s, generate_series(1, %(nodes)s::int) AS k", p)
            conn.execute(
                "INSERT INTO run_events (run_id, at, kind, from_state, to_state, source_node, "
                "source_pin, sink_node, sink_pin, data) "
                "SELECT md5(%(tag)s || i), "
                "CASE WHEN k = 1 THEN t - interval '2 s' WHEN k = %(events)s::int THEN t "
                "     ELSE t - interval '2 s' + k * interval '0.1 s' END, "
                "CASE WHEN k IN (1, %(events)s::int) THEN 'transition' ELSE 'output' END, "
                "CASE WHEN k = 1 THEN 'queued' WHEN k = %(events)s::int THEN 'running' END, "
                "CASE WHEN k = 1 THEN 'running' WHEN k = %(events)s::int THEN 'completed' END, "
                "CASE WHEN k NOT IN (1, %(events)s::int) THEN 'n' || (k - 1) END, "
                "CASE WHEN k NOT IN (1, %(events)s::int) THEN 'value' END, "
                "CASE WHEN k NOT IN (1, %(events)s::int) THEN 'n' || k END, "
                "CASE WHEN k NOT IN (1, %(events)s::int) THEN 'value' END, "
                "CASE WHEN k NOT IN (1, %(events)s::int) THEN '{\"value\": 1}'::json END "
                f"FROM ({base}) AS s, generate_series(1, %(events)s::int) AS k", p)
            conn.commit()
            if n > LOAD_CHUNK:
                print(f"  loaded {min(n, lo + LOAD_CHUNK)} / {n} runs "
                      f"({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
    settle(url)
    return time.perf_counter() - t0


def count_rows(url: str, before: datetime | None = None) -> dict[str, int]:
    """Rows of the three tables (runs completed before ``before`` only, when given)."""
    with psycopg.connect(_pg(url)) as conn:
        def one(sql: str, *params: Any) -> int:
            row = conn.execute(sql, params).fetchone()
            return int(row[0]) if row else 0

        if before is not None:
            return {"runs": one("SELECT count(*) FROM runs WHERE completed_at < %s",
                                before.replace(tzinfo=None))}
        return {t: one(f"SELECT count(*) FROM {t}") for t in ("runs", "node_runs", "run_events")}


class StampClock:
    """``time.monotonic`` that keeps what it returned: retention reads it once per batch."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def __call__(self) -> float:
        now = time.monotonic()
        self.stamps.append(now)
        return now


def batch_times(stamps: list[float], full_batches: int) -> dict[str, float | None]:
    """Median seconds per batch of the runs stage in its first and its last tenth.

    ``run_once`` reads the clock at its start, before the runs stage, when that stage
    sets its deadline, then once after each full batch: the gaps from the third read
    on are the batches.
    """
    gaps = [b - a for a, b in itertools.pairwise(stamps[2:3 + full_batches])]
    if len(gaps) < 10:
        return {"first_tenth_median_s": None, "last_tenth_median_s": None}
    tenth = max(1, len(gaps) // 10)
    return {"first_tenth_median_s": round(statistics.median(gaps[:tenth]), 4),
            "last_tenth_median_s": round(statistics.median(gaps[-tenth:]), 4)}


def retention_backlog(url: str, settings: Settings, n: int, nodes: int,
                      events: int) -> dict[str, Any]:
    """Load ``n`` expired runs (with children); time retention deleting them all."""
    expired_from = NOW - timedelta(days=settings.retention_days + 2)
    print(f"retention backlog: loading {n} expired runs with {nodes} node runs and {events} "
          f"events each", file=sys.stderr, flush=True)
    load_s = load_finished(url, "b", n, expired_from, 86_400.0, nodes, events)
    loaded = count_rows(url)
    print(f"  loaded in {load_s:.1f}s: {loaded}", file=sys.stderr, flush=True)
    generous = settings.model_copy(update={"database_url": url, "retention_budget_s": 86_400.0})
    ctx = JobContext(settings=generous)
    engine = make_engine(url)
    passes, total_s = 0, 0.0
    deleted = {"runs": 0, "node_runs": 0, "events": 0}
    first: dict[str, float | None] = {}
    try:
        while True:
            clock = StampClock()
            with Session(engine, expire_on_commit=False) as session:
                t0 = time.perf_counter()
                report = retention.run_once(session, NOW, ctx, clock=clock)
                total_s += time.perf_counter() - t0
            passes += 1
            first = first or batch_times(clock.stamps,
                                         report.runs // generous.retention_batch)
            for k in deleted:
                deleted[k] += getattr(report, k)
            print(f"  pass {passes}: {report.summary()}", file=sys.stderr, flush=True)
            if not report.more or passes >= 100:
                break
    finally:
        engine.dispose()
    left = count_rows(url)
    rows = sum(deleted.values())
    needed = GOAL_PER_DAY / 24 / settings.retention_budget_s
    runs_per_s = deleted["runs"] / total_s if total_s else 0.0
    return {
        "runs": n, "node_runs_per_run": nodes, "events_per_run": events,
        "load_s": round(load_s, 1),
        "retention_budget_s": generous.retention_budget_s,
        "retention_batch": generous.retention_batch,
        "passes": passes,
        "seconds": round(total_s, 1),
        "deleted": deleted,
        "left": left,
        "rows_per_s": round(rows / total_s) if total_s else None,
        "runs_per_s": round(runs_per_s),
        # what one hourly pass must sustain at GOAL_PER_DAY within the default budget
        "needed_runs_per_s": round(needed, 1),
        "hourly_passes_at_default_budget": math.ceil(total_s / settings.retention_budget_s),
        "batch_s": first,  # of the first pass
        "all_deleted": left["runs"] == 0 and left["node_runs"] == 0 and left["run_events"] == 0,
        "fast_enough": runs_per_s >= needed,
    }


def retention_steady(url: str, settings: Settings, per_day: int, nodes: int,
                     events: int) -> dict[str, Any]:
    """One day's worth of runs at ``per_day`` expiring; 24 hourly passes at default settings."""
    day_start = NOW - timedelta(days=settings.retention_days + 1)  # the day that now expires
    print(f"retention steady state: loading one day at {per_day} runs/day", file=sys.stderr,
          flush=True)
    load_s = load_finished(url, "s", per_day, day_start, 86_400.0, nodes, events)
    loaded = count_rows(url)
    print(f"  loaded in {load_s:.1f}s: {loaded}", file=sys.stderr, flush=True)
    s = settings.model_copy(update={"database_url": url})
    ctx = JobContext(settings=s)
    engine = make_engine(url)
    ticks: list[dict[str, Any]] = []
    try:
        for hour in range(1, 25):
            now = NOW - timedelta(days=1) + timedelta(hours=hour)
            with Session(engine, expire_on_commit=False) as session:
                t0 = time.perf_counter()
                report = retention.run_once(session, now, ctx)
                seconds = time.perf_counter() - t0
            left = count_rows(url, retention.cutoff(now, s.retention_days))["runs"]
            rows = report.runs + report.node_runs + report.events
            ticks.append({"hour": hour, "seconds": round(seconds, 2), "runs": report.runs,
                          "rows": rows, "more": report.more, "expired_left": left})
            print(f"  hour {hour:2d}: {report.summary()}; expired runs left: {left}",
                  file=sys.stderr, flush=True)
    finally:
        engine.dispose()
    after = count_rows(url)
    secs = [t["seconds"] for t in ticks]
    rows = sum(t["rows"] for t in ticks)
    return {
        "per_day": per_day, "node_runs_per_run": nodes, "events_per_run": events,
        "load_s": round(load_s, 1),
        "runs_per_hourly_pass": {"median": statistics.median(t["runs"] for t in ticks),
                                 "max": max(t["runs"] for t in ticks)},
        "pass_s": {"median": round(statistics.median(secs), 2), "worst": round(max(secs), 2),
                   "budget_s": s.retention_budget_s,
                   "worst_vs_budget": round(max(secs) / s.retention_budget_s, 3)},
        "rows_per_s": round(rows / sum(secs)) if sum(secs) else None,
        "runs_per_s": round(sum(t["runs"] for t in ticks) / sum(secs)) if sum(secs) else None,
        "every_pass_within_budget": all(not t["more"] and t["seconds"] <= s.retention_budget_s
                                        for t in ticks),
        "nothing_expired_left": all(t["expired_left"] == 0 for t in ticks),
        "day_cleared": after["runs"] == 0 and after["node_runs"] == 0
        and after["run_events"] == 0,
        "left_after_day": after,
        "ticks": [[t["hour"], t["seconds"], t["runs"], t["more"], t["expired_left"]]
                  for t in ticks],
    }


def retention_bench(server: PostgresServer, n: int, per_day: int, nodes: int,
                    events: int) -> dict[str, Any]:
    """Both retention measures, each on a fresh database of ``server``."""
    settings = Settings(database_url=server.url, _env_file=None)  # the defaults
    out: dict[str, Any] = {"retention_days": settings.retention_days,
                           "retention_batch": settings.retention_batch,
                           "retention_budget_s": settings.retention_budget_s}
    for label, measure in (("backlog", lambda u: retention_backlog(u, settings, n, nodes,
                                                                   events)),
                           ("steady", lambda u: retention_steady(u, settings, per_day, nodes,
                                                                 events))):
        url = second_database(server, f"ret_{label}")
        try:
            migrate.upgrade(url)
            out[label] = measure(url)
        finally:
            drop_database(server, url)
    out["within_goals"] = bool(out["backlog"]["all_deleted"] and out["backlog"]["fast_enough"]
                               and out["steady"]["every_pass_within_budget"]
                               and out["steady"]["nothing_expired_left"]
                               and out["steady"]["day_cleared"])
    return out


def cost_bench(server: PostgresServer, small: int, large: int, m: int,
               repeats: int) -> dict[str, Any]:
    """The sweep-cost comparison: each sweep on a small and a large runs table."""
    urls = {"small": server.url}
    try:
        urls["large"] = second_database(server)
        # Batches large enough that one tick takes every match, as in production.
        settings = Settings(database_url=server.url, _env_file=None,
                            alert_urls_ops=["json://bench/ops"],
                            alert_urls_product=["json://bench/product"],
                            queued_expiry_batch=max(500, m), resend_batch=max(500, m),
                            backstop_batch=max(500, m), waiting_timeout_batch=max(500, m),
                            stale_runtime_batch=max(100, m), runtime_gc_batch=max(100, m),
                            retention_batch=max(1000, m))
        for label, total in (("small", small), ("large", large)):
            migrate.upgrade(urls[label])
            t0 = time.perf_counter()
            grow_history(urls[label], total, m)
            print(f"{label}: runs table at {total} rows ({time.perf_counter() - t0:.1f}s to load)",
                  file=sys.stderr)
        results = time_sweeps(urls, settings, m, repeats)
        for name in SWEEPS:
            print(f"  {name:<18} {results['small'][name]:8.1f} ms {results['large'][name]:8.1f} ms",
                  file=sys.stderr)
    finally:
        if "large" in urls:
            drop_database(server, urls["large"])
    out: dict[str, Any] = {"small_rows": small, "large_rows": large, "matches_per_sweep": m,
                           "repeats": repeats, "sweeps": {}}
    for name in SWEEPS:
        s_ms, l_ms = results["small"][name], results["large"][name]
        out["sweeps"][name] = {"small_ms": round(s_ms, 2), "large_ms": round(l_ms, 2),
                               "ratio": round(l_ms / s_ms, 2) if s_ms else None}
    out["max_ratio"] = max(v["ratio"] or 0 for v in out["sweeps"].values())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("cost", "retention", "all"), default="all")
    parser.add_argument("--matches", type=int, default=200, help="matching rows per sweep")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--retention-runs", type=int, default=None,
                        help="expired runs retention deletes (1 000 000; smoke 20 000)")
    parser.add_argument("--per-day", type=int, default=None,
                        help="steady state: runs per day (1 000 000; smoke 20 000)")
    parser.add_argument("--nodes-per-run", type=int, default=3)
    parser.add_argument("--events-per-run", type=int, default=5)
    parser.add_argument("--smoke", action="store_true",
                        help="2 000 vs 20 000 rows, 20 000 runs for retention; exit 1 when a "
                             "retention goal is broken")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the monitors log every alert they raise
    small, large = (2_000, 20_000) if args.smoke else (10_000, 1_000_000)
    m = min(args.matches, 50) if args.smoke else args.matches
    n_ret = args.retention_runs or (20_000 if args.smoke else 1_000_000)
    per_day = args.per_day or (20_000 if args.smoke else 1_000_000)
    events = max(2, args.events_per_run)  # a finished run has at least its two transitions
    started = time.monotonic()
    out: dict[str, Any] = {"bench": "sweeps", "smoke": args.smoke, "mode": args.mode}
    server = start_postgres()
    try:
        if args.mode in ("cost", "all"):
            out.update(cost_bench(server, small, large, m, args.repeats))
        if args.mode in ("retention", "all"):
            out["retention"] = retention_bench(server, n_ret, per_day, args.nodes_per_run,
                                               events)
    finally:
        server.stop()
    ok = out["retention"]["within_goals"] if "retention" in out else True
    out["within_goals"] = ok
    out["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(out, sort_keys=True))
    if args.smoke and not ok:
        print("FAILED: a retention goal was broken (see the JSON line)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
