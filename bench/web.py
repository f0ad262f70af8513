"""The API and dashboard at scale: p50/p95 latency with 1 000 000 runs in PostgreSQL.

A throwaway PostgreSQL (or FLEET_TEST_POSTGRES_URL) gets the runs table bulk-loaded by
COPY (``--smoke``: 20 000 rows): 1 000 users, 200 graphs, 30 days of history, mostly
finished runs with some queued, running and waiting ones, failures with error codes, a
third of them from schedules; node runs and events for a sample of runs. Then the app
(as ``fleet web`` builds it) answers, in this process, ``--repeats`` requests of each
kind, timed one by one:

- runs list: first page and a deep keyset page (half-way down the table), without and
  with filters (state, user, user and state, graph and state, error code, last 24 h),
  each with its capped count; as a viewer (their own runs) too;
- run detail and "why is this run not moving?";
- the overview and ``/metrics``, served from the shared snapshot, and the snapshot's own
  refresh (what one viewer in every few seconds pays).

The reference measured in the same run is ``/healthz`` (the framework alone); each case
also reports its ratio to it and whether its p95 is under the 200 ms aim. Last line: one
JSON object.

    python bench/web.py [--rows 1000000] [--repeats 40] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlmodel import Session  # noqa: E402

from fleet.engine.tracker import percentile  # noqa: E402
from fleet.settings import Settings  # noqa: E402
from fleet.store import keyset, migrate  # noqa: E402
from fleet.store.db import make_engine  # noqa: E402
from fleet.testing import RecordingSender  # noqa: E402
from fleet.testing.servers import start_postgres  # noqa: E402
from fleet.tokens import service as tokens  # noqa: E402
from fleet.web.app import create_app  # noqa: E402
from fleet.web.context import WebContext  # noqa: E402

NOW = datetime.now(UTC).replace(microsecond=0)
AIM_MS = 200.0
USERS, GRAPHS, SCHEDULES = 1000, 200, 5000
STATES = (("completed", 0.85), ("failed", 0.08), ("cancelled", 0.03), ("timeout", 0.005),
          ("queued", 0.02), ("running", 0.01), ("waiting_approval", 0.005))
RUN_COLS = ("id", "user_id", "graph_id", "graph_version", "schedule_id", "scheduled_for",
            "state", "inputs", "outputs", "error_code", "error_detail", "attempt_count",
            "max_attempts", "cancel_requested", "created_at", "queued_at", "started_at",
            "completed_at", "state_changed_at", "wall_time_s", "run_time_s", "node_count",
            "node_error_count", "cost", "runtime_id", "lease_until")


def _pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _state(r: float) -> str:
    acc = 0.0
    for state, share in STATES:
        acc += share
        if r < acc:
            return state
    return "completed"


def runs(n: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    """``n`` run rows over the last 30 days, newest last."""
    rnd = random.Random(seed)
    span = 30 * 86_400
    for i in range(n):
        created = NOW - timedelta(seconds=span * (1 - i / n) + rnd.random())
        state = _state(rnd.random())
        finished = state in ("completed", "failed", "cancelled", "timeout")
        wall = rnd.lognormvariate(0.5, 1.0)
        started = created + timedelta(seconds=rnd.random() * 3) if state != "queued" else None
        completed = (started + timedelta(seconds=wall)) if finished and started else None
        error = ("E-RUN-002" if rnd.random() < 0.1 else "E-NODE-001") if state == "failed" \
            else ("E-RUN-004" if state == "timeout" else None)
        scheduled = rnd.random() < 0.33
        yield (uuid.uuid4().hex, f"u{rnd.randrange(USERS)}", f"g{rnd.randrange(GRAPHS)}", 1,
               f"s{rnd.randrange(SCHEDULES)}" if scheduled else None,
               created if scheduled else None, state, '{"who": "x"}',
               '{"greeting": "hi"}' if state == "completed" else None, error,
               "boom" if error else None, 1, 3, False, created, created, started, completed,
               completed or started or created, wall if finished else None, 0.0, 3,
               1 if error else 0, 0.0, "rt-1" if state == "running" else None,
               (NOW + timedelta(seconds=60)) if state == "running" else None)


def load(url: str, n: int) -> list[str]:
    """COPY ``n`` runs (and node runs and events for a sample); the sampled run ids."""
    sample: list[str] = []
    with psycopg.connect(_pg(url)) as conn:
        with conn.cursor() as cur, cur.copy(
                f"COPY runs ({', '.join(RUN_COLS)}) FROM STDIN") as cp:
            for i, row in enumerate(runs(n)):
                cp.write_row(row)
                if i % max(1, n // 2000) == 0 and row[6] in ("completed", "failed"):
                    sample.append(row[0])
        rows = conn.execute("SELECT id, created_at, started_at, completed_at FROM runs "
                            "WHERE id = ANY(%s)", (sample,)).fetchall()
        with conn.cursor() as cur, cur.copy(
                "COPY node_runs (id, run_id, node_id, block_id, exec_key, state, inputs, "
                "attempt, started_at, completed_at, wall_time_s, cost) FROM STDIN") as cp:
            for run_id, _c, started, completed in rows:
                for j, node in enumerate(("a", "b", "c")):
                    cp.write_row((uuid.uuid4().hex, run_id, node, "delay", f"{node}:{j}",
                                  "completed", "{}", 1, started, completed, 0.1, 0.0))
        with conn.cursor() as cur, cur.copy(
                "COPY run_events (run_id, at, kind, from_state, to_state, detail) "
                "FROM STDIN") as cp:
            for run_id, created, started, completed in rows:
                cp.write_row((run_id, created, "transition", None, "queued", "submitted"))
                cp.write_row((run_id, started, "transition", "queued", "running", "claimed"))
                cp.write_row((run_id, completed, "transition", "running", "completed", None))
        conn.commit()
    with psycopg.connect(_pg(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE runs, node_runs, run_events")
    return sample


def deep_cursor(url: str, where: str, params: tuple[Any, ...]) -> str | None:
    """The cursor of the row half-way down a list (found once, outside the timing)."""
    with psycopg.connect(_pg(url)) as conn:
        total = conn.execute(f"SELECT count(*) FROM runs WHERE {where}", params).fetchone()
        half = int(total[0]) // 2 if total else 0
        row = conn.execute(f"SELECT created_at, id FROM runs WHERE {where} ORDER BY "
                           "created_at DESC, id DESC OFFSET %s LIMIT 1",
                           (*params, half)).fetchone()
    return keyset.encode(row[0].replace(tzinfo=UTC), row[1]) if row else None


def timed(call: Callable[[], Any], repeats: int) -> list[float]:
    """Milliseconds of ``repeats`` calls (after two warm-ups)."""
    for _ in range(2):
        call()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(samples: list[float], reference_p50: float | None) -> dict[str, Any]:
    s = sorted(samples)
    p50, p95 = statistics.median(s), percentile(s, 0.95)
    out: dict[str, Any] = {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2),
                           "under_aim": p95 < AIM_MS}
    if reference_p50:
        out["p50_vs_healthz"] = round(p50 / reference_p50, 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--smoke", action="store_true", help="20 000 rows, 10 repeats, for CI")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rows, repeats = (20_000, 10) if args.smoke else (args.rows, args.repeats)
    server = start_postgres()
    try:
        migrate.upgrade(server.url)
        t0 = time.perf_counter()
        sample = load(server.url, rows)
        load_s = time.perf_counter() - t0
        print(f"loaded {rows} runs in {load_s:.1f}s", file=sys.stderr)
        results = measure(server.url, sample, repeats)
    finally:
        server.stop()
    out = {"rows": rows, "repeats": repeats, "load_s": round(load_s, 1), "aim_p95_ms": AIM_MS,
           **results}
    print(json.dumps(out, sort_keys=True))
    return 0


def measure(url: str, sample: list[str], repeats: int) -> dict[str, Any]:
    """Every case's latency."""
    settings = Settings(database_url=url, _env_file=None,  # type: ignore[call-arg]
                        web_session_secret="bench")
    engine = make_engine(url, pool_size=5)
    with Session(engine, expire_on_commit=False) as s:
        admin = tokens.create(s, user_id="ops", role="admin", now=NOW, expires_in=None).secret
        viewer = tokens.create(s, user_id="u17", role="viewer", now=NOW,
                               expires_in=None).secret
    app = create_app(settings, engine=engine, send=RecordingSender())
    client = TestClient(app)
    as_admin = {"Authorization": f"Bearer {admin}"}
    as_viewer = {"Authorization": f"Bearer {viewer}"}
    cursors = {
        "all": deep_cursor(url, "true", ()),
        "state": deep_cursor(url, "state = %s", ("failed",)),
        "user": deep_cursor(url, "user_id = %s", ("u17",)),
    }
    cases: dict[str, tuple[str, dict[str, str]]] = {
        "runs_first_page": ("/api/v1/runs?limit=50", as_admin),
        "runs_deep_page": (f"/api/v1/runs?limit=50&cursor={cursors['all']}", as_admin),
        "runs_state_first": ("/api/v1/runs?limit=50&state=failed", as_admin),
        "runs_state_deep": (f"/api/v1/runs?limit=50&state=failed&cursor={cursors['state']}",
                            as_admin),
        "runs_user_first": ("/api/v1/runs?limit=50&user=u17", as_admin),
        "runs_user_deep": (f"/api/v1/runs?limit=50&user=u17&cursor={cursors['user']}",
                           as_admin),
        "runs_user_state": ("/api/v1/runs?limit=50&user=u17&state=completed", as_admin),
        "runs_graph_state": ("/api/v1/runs?limit=50&graph=g5&state=failed", as_admin),
        "runs_error_code": ("/api/v1/runs?limit=50&error=E-RUN-002", as_admin),
        "runs_last_24h": ("/api/v1/runs?limit=50&since=24h", as_admin),
        "runs_as_viewer": ("/api/v1/runs?limit=50", as_viewer),
        "runs_page_dashboard": ("/runs?state=failed", as_admin),
        "overview": ("/api/v1/overview", as_admin),
        "metrics": ("/metrics", {}),
    }
    found: dict[str, Any] = {}
    health = timed(lambda: client.get("/healthz"), repeats)
    ref = statistics.median(health)
    found["healthz"] = summary(health, None)
    for name, (path, headers) in cases.items():
        if path.startswith("/runs"):  # the dashboard page, signed in with the admin token
            client.post("/login", data={"token": admin, "next": "/"})
        r = client.get(path, headers=headers)
        assert r.status_code == 200, (name, r.status_code, r.text[:300])
        found[name] = summary(timed(lambda p=path, h=headers: client.get(p, headers=h),
                                    repeats), ref)
    rnd = random.Random(3)
    found["run_detail"] = summary(timed(lambda: client.get(
        f"/api/v1/runs/{rnd.choice(sample)}", headers=as_admin), repeats), ref)
    found["run_why"] = summary(timed(lambda: client.get(
        f"/api/v1/runs/{rnd.choice(sample)}/why", headers=as_admin), repeats), ref)
    ctx = app.state.ctx
    assert isinstance(ctx, WebContext)

    def refresh() -> None:
        ctx.snapshot.invalidate()
        ctx.snapshot.background = False
        ctx.snapshot.get()

    found["snapshot_refresh"] = summary(timed(refresh, max(5, repeats // 4)), ref)
    client.close()
    engine.dispose()
    cases_out = {k: v for k, v in found.items() if k != "healthz"}
    found["all_under_aim"] = all(v["under_aim"] for v in cases_out.values())
    found["worst_p95_ms"] = max(v["p95_ms"] for v in cases_out.values())
    found["deep_over_first_p50"] = round(found["runs_deep_page"]["p50_ms"]
                                         / found["runs_first_page"]["p50_ms"], 2)
    return found


if __name__ == "__main__":
    raise SystemExit(main())
