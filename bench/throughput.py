"""Throughput: durable runs per second beside the raw no-op Dramatiq rate, same run.

The Procfile's worker shape (one ``dramatiq`` invocation, 2 processes x 8
threads) on a throwaway PostgreSQL and Redis:

* raw: M messages to a no-op actor (its body one Redis INCR so that the
  benchmark can count completions) through the same broker and worker
  shape; timed from the first send to the last completion;
* submit only (no worker running): runs submitted one by one with
  ``fleet.runs.submit`` (row committed, message sent, send recorded), then
  in batches of 500 with ``submit_many`` (one INSERT, one Redis pipeline,
  one UPDATE); those runs are then discarded;
* durable: N runs of a 3-node graph submitted in batches while the workers
  run, each claimed under a lease, executed with checkpointed nodes and
  finished; timed from the first submission to the last completion (the
  ``completed_at`` its worker wrote; the benchmark polls lightly meanwhile,
  so that watching does not compete with the workers for the CPU);
* latency: runs submitted one by one at half the durable rate for a while;
  p50/p99 of completion minus creation.

Beside each phase's rate over its whole window (the goal's measure), its
steady rate: completions from 10 % to 90 % of the phase over the time they
took (the durable runs' ``completed_at``; the no-op counter, read every 100
messages sent, then every 20 ms). A 1 000-run window lasts about 2 s, of
which the workers' first pick-up (Dramatiq's idle consumers poll with a
backoff of up to a second) and their ramp take a few tenths in both phases.

procrastinate's no-op rate on this machine was 274/s when the issue was
written; it is printed as that reference (procrastinate is not a dependency).
The raw and durable phases alternate for ``--rounds`` rounds (3; one in a
smoke run), each with freshly started workers, and the round with the median
ratio is reported (every round is printed too): one round moves by 10 % from
one run to the next on a shared 2-core machine. Prints the rates and ratios
as one JSON object on the last line; ``--smoke`` exits 1 when durable/raw
falls below its smoke floor.

    python bench/throughput.py [--runs 1000] [--noop 10000] [--rounds 3] [--smoke]
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
from typing import Any

from fleet.testing.cpu import cpu_seconds, postgres_processes, process_group
from fleet.testing.graphs import delay_chain
from fleet.testing.servers import PostgresServer

ROOT = Path(__file__).resolve().parents[1]
NOOP_QUEUE = "bench-noop"
COUNTER = "fleet:bench:noop"
# procrastinate 2 no-op jobs/s on this 2-core machine (issue 14); not a dependency
PROCRASTINATE_NOOP_PER_S = 274.0

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


class _CpuMeter:
    """CPU spent by the workers, PostgreSQL and Redis between :meth:`start` and :meth:`stop`
    (None where the server is not one this benchmark started)."""

    def __init__(self, workers: list[int], pg: PostgresServer, redis: int | None) -> None:
        self.parts: dict[str, Any] = {
            "workers": lambda: cpu_seconds([p for w in workers for p in process_group(w)]),
            # the server's processes read again each time: backends come with connections
            "postgresql": ((lambda: cpu_seconds(postgres_processes(pg) or []))
                           if postgres_processes(pg) is not None else None),
            "redis": (lambda: cpu_seconds([redis])) if redis else None}
        self.begin: dict[str, float] = {}

    def start(self) -> None:
        self.begin = {k: f() for k, f in self.parts.items() if f is not None}

    def stop(self, count: int) -> dict[str, float | None]:
        """Milliseconds of CPU per unit of work (``count`` units), by part."""
        return {k: (round((f() - self.begin[k]) / count * 1000, 3) if f is not None else None)
                for k, f in self.parts.items()}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _steady(samples: list[tuple[float, int]], total: int) -> float:
    """The rate between 10 % and 90 % of ``total`` done, from ``(time, done)`` samples:
    the rate once the workers have picked the work up, before its tail."""
    low = next(s for s in samples if s[1] >= total * 0.1)
    high = next(s for s in samples if s[1] >= total * 0.9)
    if high[0] <= low[0]:  # both read at once (too few samples): the whole phase's rate
        low, high = samples[0], samples[-1]
    return (high[1] - low[1]) / (high[0] - low[0])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--noop", type=int, default=10000)
    parser.add_argument("--latency-s", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating reference and durable rounds; medians reported")
    parser.add_argument("--smoke", action="store_true",
                        help="300 runs, 2000 no-op messages, 5 s of latency, one round")
    args = parser.parse_args(argv)
    n_runs, n_noop, latency_s, n_rounds = ((300, 2000, 5.0, 1) if args.smoke
                                           else (args.runs, args.noop, args.latency_s,
                                                 max(1, args.rounds)))
    n_single = min(200, n_runs)

    sys.path.insert(0, str(ROOT))
    import redis
    from sqlalchemy import text
    from sqlmodel import Session

    from fleet.engine.blocks.registry import default_registry
    from fleet.runs.submit import Request, submit, submit_many
    from fleet.settings import Settings
    from fleet.store import graphs, migrate
    from fleet.store import runs as run_store
    from fleet.store import runtimes as runtime_store
    from fleet.store.db import make_engine
    from fleet.testing.servers import start_postgres, start_redis
    from fleet.worker.broker import build_broker, make_batch_sender, make_sender

    pg, rds = start_postgres(), start_redis()
    logdir = Path(tempfile.mkdtemp(prefix="fleet-bench-throughput-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update(FLEET_DATABASE_URL=pg.url, FLEET_REDIS_URL=rds.url)
    procs: list[subprocess.Popen[bytes]] = []
    engine = None
    out: dict[str, object] = {"bench": "throughput", "smoke": args.smoke,
                              "workers": "2 processes x 8 threads", "graph_nodes": 3}
    try:
        migrate.upgrade(pg.url)
        engine = make_engine(pg.url, pool_size=2)
        client = redis.Redis.from_url(rds.url)
        settings = Settings(database_url=pg.url, redis_url=rds.url,  # type: ignore[call-arg]
                            _env_file=None)
        registry = default_registry()

        # --- raw: the no-op actor ---------------------------------------------
        from dramatiq import Message

        noop_broker = build_broker(settings)
        noop_broker.declare_queue(NOOP_QUEUE)
        redis_pid = rds.proc.pid if rds.proc is not None else None

        def noop_round() -> tuple[float, float, dict[str, float | None]]:
            _start("throughput", {**env, "FLEET_BENCH_NOOP_WORKER": "1"}, logdir, "noop",
                   procs, ROOT / "bench")
            time.sleep(3)  # let both processes boot and start consuming
            client.delete(COUNTER)
            meter = _CpuMeter([procs[0].pid], pg, redis_pid)
            meter.start()
            seen: list[tuple[float, int]] = []  # (when, count): the steady rate's samples

            def counted() -> bool:
                seen.append((time.monotonic(), int(client.get(COUNTER) or 0)))
                return seen[-1][1] >= n_noop

            t0 = time.monotonic()
            for i in range(n_noop):
                noop_broker.enqueue(Message(queue_name=NOOP_QUEUE, actor_name="noop",
                                            args=(), kwargs={}, options={}))
                if i % 100 == 0:  # the workers consume while this loop sends
                    counted()
            _wait(counted, 300, "the no-op messages")
            rate = n_noop / (time.monotonic() - t0)
            cpu = meter.stop(n_noop)
            _stop(procs)
            return rate, _steady(seen, n_noop), cpu

        with Session(engine) as s:
            graphs.add_version(s, graph_id="three", user_id="bench", name="three",
                               description="", definition=GRAPH, timeout_s=600,
                               max_attempts=3, now=datetime.now(UTC))
            s.commit()
        broker = build_broker(settings)
        send = make_sender(broker, settings.queue_name)
        send_many = make_batch_sender(broker, settings.queue_name)

        def batch_submit(count: int) -> None:
            with Session(engine, expire_on_commit=False) as s:
                for start in range(0, count, 500):
                    size = min(500, count - start)
                    submit_many(s, [Request("three")] * size, user_id="bench",
                                now=datetime.now(UTC), send=send, registry=registry,
                                settings=settings, send_many=send_many)

        # --- submit only (no worker): single, then batch; then discarded ------------
        t0 = time.monotonic()
        with Session(engine, expire_on_commit=False) as s:
            for _ in range(n_single):
                submit(s, graph_id="three", version=None, inputs={}, user_id="bench",
                       now=datetime.now(UTC), send=send, registry=registry, settings=settings)
        single_rate = n_single / (time.monotonic() - t0)
        t0 = time.monotonic()
        batch_submit(n_runs)
        batch_rate = n_runs / (time.monotonic() - t0)

        # --- durable: batch-submitted while the workers run ----------------------------
        def online() -> bool:
            with Session(engine) as s:
                return len(runtime_store.list_runtimes(s, status="online")) >= 2

        def completed() -> int:
            with Session(engine) as s:
                return run_store.count_by_state(s).get("completed", 0)

        def completed_count() -> int:
            with Session(engine) as s:
                return int(s.execute(text(
                    "SELECT count(*) FROM runs WHERE state = 'completed'")).scalar_one())

        def last_completion() -> datetime:
            with Session(engine) as s:
                last = s.execute(text("SELECT max(completed_at) FROM runs")).scalar_one()
            return last.replace(tzinfo=UTC) if last.tzinfo is None else last

        def completions() -> list[tuple[float, int]]:
            with Session(engine) as s:
                ends = s.execute(text("SELECT EXTRACT(EPOCH FROM completed_at) FROM runs "
                                      "WHERE state = 'completed' ORDER BY completed_at")
                                 ).scalars().all()
            return [(float(t), i + 1) for i, t in enumerate(ends)]

        def done_polled() -> bool:
            # A light poll (an index count, 4 times a second), so that watching takes
            # little of the CPU the workers and PostgreSQL share; the end is read below.
            time.sleep(0.25)
            return completed_count() >= n_runs

        def durable_round(keep_workers: bool) -> tuple[float, float, dict[str, float | None]]:
            with Session(engine) as s:
                s.execute(text("TRUNCATE runs CASCADE"))  # bench only: each round starts empty
                s.commit()
            client.delete(f"dramatiq:{settings.queue_name}",
                          f"dramatiq:{settings.queue_name}.msgs")
            _start("actors.main", env, logdir, "fleet", procs, ROOT)
            _wait(online, 60, "two fleet worker processes")
            time.sleep(2)  # past the workers' start-up sweeps
            meter = _CpuMeter([procs[0].pid], pg, redis_pid)
            meter.start()
            started = datetime.now(UTC)
            batch_submit(n_runs)
            _wait(done_polled, 900, "the durable runs")
            cpu = meter.stop(n_runs)
            # The end is the last run's completion as its worker recorded it (same host clock).
            rate = n_runs / (last_completion() - started).total_seconds()
            if not keep_workers:
                _stop(procs)
            return rate, _steady(completions(), n_runs), cpu

        # Rounds alternate the reference and the durable phase, so that both see the same
        # machine; the medians are reported (a single round moves by 10 % on a shared box).
        rounds: list[dict[str, Any]] = []
        for i in range(n_rounds):
            noop_rate, noop_steady, noop_cpu = noop_round()
            durable_rate, durable_steady, durable_cpu = durable_round(
                keep_workers=i == n_rounds - 1)
            rounds.append({"noop_per_s": round(noop_rate, 1),
                           "durable_per_s": round(durable_rate, 1),
                           "durable_vs_noop": round(durable_rate / noop_rate, 4),
                           "steady_noop_per_s": round(noop_steady, 1),
                           "steady_durable_per_s": round(durable_steady, 1),
                           "steady_durable_vs_noop": round(durable_steady / noop_steady, 4),
                           "cpu_ms_per_noop_message": noop_cpu,
                           "cpu_ms_per_durable_run": durable_cpu})
        middle = sorted(rounds, key=lambda r: r["durable_vs_noop"])[len(rounds) // 2]
        noop_rate, durable_rate = middle["noop_per_s"], middle["durable_per_s"]
        noop_cpu, durable_cpu = middle["cpu_ms_per_noop_message"], middle["cpu_ms_per_durable_run"]
        noop_broker.close()

        # --- latency at half the durable rate -------------------------------------------
        pace = 1.0 / max(1.0, durable_rate / 2)
        sent = 0
        t0 = time.monotonic()
        with Session(engine, expire_on_commit=False) as s:
            while time.monotonic() - t0 < latency_s:
                submit(s, graph_id="three", version=None, inputs={}, user_id="bench",
                       now=datetime.now(UTC), send=send, registry=registry, settings=settings)
                sent += 1
                time.sleep(max(0.0, t0 + sent * pace - time.monotonic()))
        _wait(lambda: completed() >= n_runs + sent, 300, "the paced runs")
        with Session(engine) as s:
            rows = s.execute(text(
                "SELECT EXTRACT(EPOCH FROM completed_at - created_at) FROM runs "
                "WHERE state = 'completed' ORDER BY created_at DESC LIMIT :n"),
                {"n": sent}).scalars().all()
            counts = run_store.count_by_state(s)
        latencies = [float(v) * 1000 for v in rows]
        broker.close()
        client.close()
    finally:
        _stop(procs)
        if engine is not None:
            engine.dispose()
        rds.close()
        pg.stop()
    ratio = middle["durable_vs_noop"]
    goal, smoke_floor = 0.5, 0.03  # a 300-run smoke is mostly warm-up
    out.update({
        "durable_runs": n_runs,
        "durable_runs_per_s": round(durable_rate, 1),
        "noop_messages": n_noop,
        "noop_messages_per_s": round(noop_rate, 1),
        "durable_vs_noop": round(ratio, 4),
        "durable_vs_noop_goal": goal,
        "durable_vs_noop_not_done_below": 0.25,
        "steady_durable_vs_noop": middle["steady_durable_vs_noop"],
        "procrastinate_noop_per_s_reference": PROCRASTINATE_NOOP_PER_S,
        "durable_vs_procrastinate": round(durable_rate / PROCRASTINATE_NOOP_PER_S, 2),
        "durable_vs_procrastinate_goal": 4.0,
        "cpu_ms_per_noop_message": noop_cpu,
        "cpu_ms_per_durable_run": durable_cpu,
        "submit_single_per_s": round(single_rate, 1),
        "submit_batch_per_s": round(batch_rate, 1),
        "latency_runs": sent,
        "latency_rate_per_s": round(sent / latency_s, 1),
        "latency_p50_ms": round(_percentile(latencies, 0.5), 1),
        "latency_p99_ms": round(_percentile(latencies, 0.99), 1),
        "states": counts,
        "rounds": rounds,
    })
    if args.smoke:
        out["smoke_floor_durable_vs_noop"] = smoke_floor
    print(json.dumps(out))
    if args.smoke and ratio < smoke_floor:
        print(f"durable/raw {ratio:.3f} is below the smoke floor {smoke_floor}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
