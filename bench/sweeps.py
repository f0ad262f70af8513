"""Sweep cost against history: each sweep's time with a small and a large runs table.

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
finds, not the size of the table. Last line: one JSON object.

    python bench/sweeps.py [--matches 200] [--repeats 5] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
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


def second_database(server: PostgresServer) -> str:
    """Create another database on the same server; its URL."""
    name = f"{server.dbname}_b"
    with psycopg.connect(_pg(server.admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url.rsplit("/", 1)[0] + "/" + name


def drop_database(server: PostgresServer, url: str) -> None:
    """Drop a database made by :func:`second_database`."""
    name = url.rsplit("/", 1)[1]
    with contextlib.suppress(psycopg.Error), \
            psycopg.connect(_pg(server.admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--matches", type=int, default=200, help="matching rows per sweep")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="2 000 vs 20 000 rows, for CI")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the monitors log every alert they raise
    small, large = (2_000, 20_000) if args.smoke else (10_000, 1_000_000)
    m = min(args.matches, 50) if args.smoke else args.matches
    server = start_postgres()
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
        results = time_sweeps(urls, settings, m, args.repeats)
        for name in SWEEPS:
            print(f"  {name:<18} {results['small'][name]:8.1f} ms {results['large'][name]:8.1f} ms",
                  file=sys.stderr)
    finally:
        if "large" in urls:
            drop_database(server, urls["large"])
        server.stop()
    out: dict[str, Any] = {"small_rows": small, "large_rows": large, "matches_per_sweep": m,
                           "repeats": args.repeats, "sweeps": {}}
    for name in SWEEPS:
        s_ms, l_ms = results["small"][name], results["large"][name]
        out["sweeps"][name] = {"small_ms": round(s_ms, 2), "large_ms": round(l_ms, 2),
                               "ratio": round(l_ms / s_ms, 2) if s_ms else None}
    out["max_ratio"] = max(v["ratio"] or 0 for v in out["sweeps"].values())
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
