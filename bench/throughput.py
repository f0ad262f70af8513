"""Throughput: durable runs per second beside the raw no-op Dramatiq rate, same run.

The Procfile's worker shape (one ``dramatiq`` invocation, 2 processes x 8
threads) on a throwaway PostgreSQL and Redis:

* durable: N runs of a 3-node graph submitted with ``fleet.runs.submit`` (row
  committed, message sent, send recorded), each claimed under a lease,
  executed with checkpointed nodes and finished; timed from the first
  submission to the last completion;
* raw: M messages to a no-op actor (its body one Redis INCR so that the
  benchmark can count completions) through the same broker and worker
  shape; timed from the first send to the last completion.

Prints both rates and their ratio as one JSON object on the last line.

    python bench/throughput.py [--runs 1000] [--noop 10000] [--smoke]
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
from datetime import UTC, datetime
from pathlib import Path

from fleet.testing.graphs import delay_chain

ROOT = Path(__file__).resolve().parents[1]
NOOP_QUEUE = "bench-noop"
COUNTER = "fleet:bench:noop"

if os.environ.get("FLEET_BENCH_NOOP_WORKER"):
    # Imported by `dramatiq throughput --path bench`: declare the no-op actor.
    import dramatiq
    import redis as _redis
    from dramatiq.brokers.redis import RedisBroker

    _url = os.environ["FLEET_REDIS_URL"]
    _broker = RedisBroker(url=_url)
    dramatiq.set_broker(_broker)
    _client = _redis.Redis.from_url(_url)

    @dramatiq.actor(queue_name=NOOP_QUEUE, max_retries=0, broker=_broker)
    def noop() -> None:
        """Does nothing but count itself."""
        _client.incr(COUNTER)

GRAPH = delay_chain("three", [0, 0])


def _start(module: str, env: dict[str, str], logdir: Path, name: str,
           procs: list[subprocess.Popen[bytes]], path: Path) -> None:
    log = open(logdir / f"{name}.log", "wb")  # noqa: SIM115
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "dramatiq", module, "--path", str(path),
         "--processes", "2", "--threads", "8"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
    procs.clear()


def _wait(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--noop", type=int, default=10000)
    parser.add_argument("--smoke", action="store_true", help="100 runs, 1000 no-op messages")
    args = parser.parse_args(argv)
    n_runs, n_noop = (100, 1000) if args.smoke else (args.runs, args.noop)

    sys.path.insert(0, str(ROOT))
    import redis
    from sqlmodel import Session

    from fleet.engine.blocks.registry import default_registry
    from fleet.runs.submit import submit
    from fleet.settings import Settings
    from fleet.store import graphs, migrate
    from fleet.store import runs as run_store
    from fleet.store import runtimes as runtime_store
    from fleet.store.db import make_engine
    from fleet.testing.servers import start_postgres, start_redis
    from fleet.worker.broker import build_broker, make_sender

    pg, rds = start_postgres(), start_redis()
    logdir = Path(tempfile.mkdtemp(prefix="fleet-bench-throughput-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update(FLEET_DATABASE_URL=pg.url, FLEET_REDIS_URL=rds.url)
    procs: list[subprocess.Popen[bytes]] = []
    engine = None
    try:
        migrate.upgrade(pg.url)
        engine = make_engine(pg.url, pool_size=2)
        client = redis.Redis.from_url(rds.url)
        settings = Settings(database_url=pg.url, redis_url=rds.url,  # type: ignore[call-arg]
                            _env_file=None)

        # --- raw: the no-op actor ---------------------------------------------
        from dramatiq import Message

        _start("throughput", {**env, "FLEET_BENCH_NOOP_WORKER": "1"}, logdir, "noop", procs,
               ROOT / "bench")
        noop_broker = build_broker(settings)
        noop_broker.declare_queue(NOOP_QUEUE)
        time.sleep(3)  # let both processes boot and start consuming
        client.delete(COUNTER)
        t0 = time.monotonic()
        for _ in range(n_noop):
            noop_broker.enqueue(Message(queue_name=NOOP_QUEUE, actor_name="noop", args=(),
                                        kwargs={}, options={}))
        _wait(lambda: int(client.get(COUNTER) or 0) >= n_noop, 300, "the no-op messages")
        noop_s = time.monotonic() - t0
        noop_broker.close()
        _stop(procs)

        # --- durable: 3-node graph runs ----------------------------------------
        with Session(engine) as s:
            graphs.add_version(s, graph_id="three", user_id="bench", name="three",
                               description="", definition=GRAPH, timeout_s=600,
                               max_attempts=3, now=datetime.now(UTC))
            s.commit()
        _start("actors.main", env, logdir, "fleet", procs, ROOT)

        def online() -> bool:
            with Session(engine) as s:
                return len(runtime_store.list_runtimes(s, status="online")) >= 2

        _wait(online, 60, "two fleet worker processes")
        broker = build_broker(settings)
        send = make_sender(broker, settings.queue_name)
        registry = default_registry()
        t0 = time.monotonic()
        with Session(engine, expire_on_commit=False) as s:
            for _ in range(n_runs):
                submit(s, graph_id="three", version=None, inputs={}, user_id="bench",
                       now=datetime.now(UTC), send=send, registry=registry,
                       settings=settings)
        submit_s = time.monotonic() - t0

        def all_done() -> bool:
            with Session(engine) as s:
                return run_store.count_by_state(s).get("completed", 0) >= n_runs

        _wait(all_done, 600, "the durable runs")
        durable_s = time.monotonic() - t0
        with Session(engine) as s:
            counts = run_store.count_by_state(s)
        broker.close()
        client.close()
    finally:
        _stop(procs)
        if engine is not None:
            engine.dispose()
        rds.close()
        pg.stop()
    durable_rate = n_runs / durable_s
    noop_rate = n_noop / noop_s
    print(json.dumps({
        "bench": "throughput",
        "smoke": args.smoke,
        "workers": "2 processes x 8 threads",
        "graph_nodes": 3,
        "durable_runs": n_runs,
        "durable_runs_per_s": round(durable_rate, 1),
        "submit_only_per_s": round(n_runs / submit_s, 1),
        "noop_messages": n_noop,
        "noop_messages_per_s": round(noop_rate, 1),
        "durable_vs_noop": round(durable_rate / noop_rate, 4),
        "states": counts,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
