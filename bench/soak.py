"""Soak: one worker's memory over many trivial runs (does it stay flat?).

ONE worker as the Procfile starts it (``dramatiq actors.main --processes 1
--threads 8 --queues fleet-urgent fleet``) on a throwaway PostgreSQL and
Redis executes N runs of a 1-node graph. The runs are submitted with
``fleet.runs.submit_many`` in batches of 500 whenever the broker's queue is
short, so the queue stays bounded however large N is. The resident set size
(VmRSS in /proc/PID/status) of the process that executes the runs (the
worker process Dramatiq forks; its parent only supervises and is reported
apart) is sampled when 10 %, 50 % and 100 % of the runs are done.

Reports growth from 10 % to 100 %: (RSS at 100 % - RSS at 10 %) / RSS at 10 %.
Goal: under 10 % over 1 000 000 runs. Progress on stderr, last line one JSON
object. ``--smoke`` runs SMOKE_RUNS runs and exits 1 when growth reaches
SMOKE_FLOOR_GROWTH (or a run does not complete).

    python bench/soak.py [--runs 1000000] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BATCH = 500
QUEUE_LOW = 2000  # submit another batch when fewer messages than this wait in the broker
GOAL_GROWTH = 0.10
SMOKE_RUNS = 5000
# The smoke floor: at smoke size the 10 % sample is taken after 500 runs, while
# the process still warms up (SQLAlchemy's statement cache, psycopg's prepared
# statements, the 8 threads' first allocations, the allocator's arenas); a flat
# worker measured 1-2 % from 10 % to 100 % at this size (and 1 % over 60 000
# and 150 000 runs). 8 % of a ~100 MiB worker is ~8 MiB over 4 500 runs: a
# leak of ~2 KiB per run (a kept tracker, a row, a log record per run) fails it.
SMOKE_FLOOR_GROWTH = 0.08
MARKS = (0.1, 0.5, 1.0)


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out.extend(int(c) for c in f.read().split())
    return out


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        found.extend(kids)
        todo.extend(kids)
    return found


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_RUNS} runs, for CI")
    args = parser.parse_args(argv)
    n_runs = SMOKE_RUNS if args.smoke else args.runs

    sys.path.insert(0, str(ROOT))
    import redis
    from sqlmodel import Session

    from fleet.engine.blocks.registry import default_registry
    from fleet.runs.submit import Request, submit_many
    from fleet.settings import Settings
    from fleet.store import graphs, migrate
    from fleet.store import runs as run_store
    from fleet.store import runtimes as runtime_store
    from fleet.store.db import make_engine
    from fleet.testing.graphs import delay_chain
    from fleet.testing.servers import start_postgres, start_redis
    from fleet.worker.broker import build_broker, make_batch_sender, make_sender

    pg, rds = start_postgres(), start_redis()
    logdir = Path(tempfile.mkdtemp(prefix="fleet-bench-soak-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update(FLEET_DATABASE_URL=pg.url, FLEET_REDIS_URL=rds.url)
    proc: subprocess.Popen[bytes] | None = None
    engine = None
    samples: dict[str, dict[str, Any]] = {}
    out: dict[str, Any] = {"bench": "soak", "smoke": args.smoke, "runs": n_runs,
                           "worker": f"dramatiq actors.main --processes 1 --threads {args.threads}",
                           "graph_nodes": 1}
    try:
        migrate.upgrade(pg.url)
        engine = make_engine(pg.url, pool_size=2)
        client = redis.Redis.from_url(rds.url)
        settings = Settings(database_url=pg.url, redis_url=rds.url,
                            _env_file=None)
        registry = default_registry()
        with Session(engine) as s:
            graphs.add_version(s, graph_id="one", user_id="bench", name="one", description="",
                               definition=delay_chain("one", []), timeout_s=600,
                               max_attempts=3, now=datetime.now(UTC))
            s.commit()
        broker = build_broker(settings)
        send = make_sender(broker, settings.queue_name)
        send_many = make_batch_sender(broker, settings.queue_name)
        queue_key = f"dramatiq:{settings.queue_name}"

        log = open(logdir / "worker.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "actors.main", "--processes", "1",
             "--threads", str(args.threads), "--queues", settings.urgent_queue_name,
             settings.queue_name],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def online() -> bool:
            with Session(engine) as s:
                return len(runtime_store.list_runtimes(s, status="online")) >= 1

        _wait(online, 60, "the worker process")
        kids = _descendants(proc.pid)
        if len(kids) != 1:
            raise SystemExit(f"expected one worker process under dramatiq, found {kids}")
        worker_pid = kids[0]
        out["rss_boot_kib"] = _rss_kib(worker_pid)
        print(f"worker pid {worker_pid} (parent {proc.pid}), RSS at boot "
              f"{out['rss_boot_kib'] / 1024:.1f} MiB", file=sys.stderr)

        def counts() -> dict[str, int]:
            with Session(engine) as s:
                return run_store.count_by_state(s)

        submitted = 0
        marks = list(MARKS)
        t0 = last_print = time.monotonic()
        with Session(engine, expire_on_commit=False) as s:
            while marks:
                if submitted < n_runs and int(client.llen(queue_key)) < QUEUE_LOW:
                    size = min(BATCH, n_runs - submitted)
                    submit_many(s, [Request("one")] * size, user_id="bench",
                                now=datetime.now(UTC), send=send, registry=registry,
                                settings=settings, send_many=send_many)
                    submitted += size
                    continue
                state = counts()
                done = sum(v for k, v in state.items() if k not in ("queued", "running"))
                if proc.poll() is not None:
                    raise SystemExit(f"the worker exited ({proc.returncode}); see {logdir}")
                while marks and done >= marks[0] * n_runs:
                    mark = marks.pop(0)
                    rss = _rss_kib(worker_pid)
                    samples[f"{int(mark * 100)}%"] = {
                        "done": done, "rss_kib": rss, "parent_rss_kib": _rss_kib(proc.pid),
                        "elapsed_s": round(time.monotonic() - t0, 1)}
                    print(f"{int(mark * 100)}% ({done} runs done): worker RSS "
                          f"{rss / 1024:.1f} MiB", file=sys.stderr)
                if time.monotonic() - last_print > 10:
                    last_print = time.monotonic()
                    rate = done / (last_print - t0)
                    print(f"  {done}/{n_runs} done, {rate:.0f} runs/s, worker RSS "
                          f"{_rss_kib(worker_pid) / 1024:.1f} MiB, states {state}",
                          file=sys.stderr)
                time.sleep(0.5 if n_runs > 20_000 else 0.1)
        elapsed = time.monotonic() - t0
        final = counts()
        broker.close()
        client.close()
    finally:
        if proc is not None:
            _stop(proc)
        if engine is not None:
            engine.dispose()
        rds.close()
        pg.stop()
    first, last = samples["10%"]["rss_kib"], samples["100%"]["rss_kib"]
    growth = (last - first) / first
    out.update({
        "runs_per_s": round(n_runs / elapsed, 1),
        "elapsed_s": round(elapsed, 1),
        "samples": samples,
        "rss_10_kib": first,
        "rss_50_kib": samples["50%"]["rss_kib"],
        "rss_100_kib": last,
        "growth_10_to_100": round(growth, 4),
        "bytes_per_run_10_to_100": round((last - first) * 1024 / (0.9 * n_runs), 1),
        "growth_goal": GOAL_GROWTH,
        "states": final,
    })
    failed = final.get("completed", 0) != n_runs
    if args.smoke:
        out["smoke_floor_growth"] = SMOKE_FLOOR_GROWTH
        failed = failed or growth >= SMOKE_FLOOR_GROWTH
    print(f"RSS 10 % {first / 1024:.1f} MiB, 50 % {samples['50%']['rss_kib'] / 1024:.1f} MiB, "
          f"100 % {last / 1024:.1f} MiB: growth {100 * growth:.1f} % (goal < "
          f"{100 * GOAL_GROWTH:.0f} %"
          + (f", smoke floor {100 * SMOKE_FLOOR_GROWTH:.0f} %" if args.smoke else "")
          + f"); {n_runs / elapsed:.0f} runs/s; states {final}", file=sys.stderr)
    print(json.dumps(out))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
