"""Recovery after ``kill -9``: seconds until a killed worker's runs are running again.

Two modes, on a throwaway PostgreSQL and Redis each, with the default lease
(60 s) and heartbeat (15 s) settings. Workers are started as the Procfile's
``worker`` line does (``dramatiq actors.main --threads N --queues fleet-urgent
fleet``), one process per ``dramatiq`` invocation: a ``kill -9`` of one child
of a ``--processes 2`` invocation makes Dramatiq's parent SIGTERM the sibling,
whose graceful shutdown would release its own runs and blur the measure.
The ``system`` and ``scheduler`` lines are not started: the re-send sweep
would only add duplicates at the back of the queue, and the measure is of the
workers' own recovery (heartbeat reaper + urgent queue).

backlog (the default, with ``empty`` in ``both``)
    ``--workers`` workers of ``--threads`` threads are kept busy by short delay
    runs (uniform around ``--run-seconds``, so threads free up now and then),
    and the Redis ``fleet`` queue is topped up so that at least ``--ahead``
    runs are queued AHEAD of the victim's when it is killed (enough more that
    the queue has not drained by the recovery goal). The worker holding the
    most runs is killed with SIGKILL. At that instant we note the runs it was
    executing (``running``, held by it) and the runs it had fetched but not
    started (``queued`` in the database, their messages in its Dramatiq acks
    sets ``dramatiq:__acks__.<consumer_id>.<queue>``, whose payloads are in
    ``dramatiq:<queue>.msgs``). Per kill: seconds from the kill until each
    executing run is ``running`` again on another worker (goal: lease TTL +
    one heartbeat, 75 s) and until each fetched-but-unstarted run is running
    (goal: 2 x lease TTL, 120 s), with the queue length at the kill and when
    the last of them started (runs still queued behind them: they went ahead).

empty
    The original measure: one long run on an idle fleet of two workers; the
    worker holding it is killed mid-way; seconds until it runs again on the
    other worker (goal lease + heartbeat) and until it completes.

``--smoke`` uses short leases (8 s, heartbeat 3 s), goals scaled the same way
(lease + heartbeat = 11 s, 2 x lease = 16 s), 4 threads per worker and runs
of 0.5-1.5 s, one kill per mode, and exits 1 when a goal is broken. The
heartbeat is a larger share of the lease than in production because what
follows the reap does not shrink with it: Dramatiq polls the idle urgent
queue up to once a second, and a survivor's thread must free up (about 1.3 s
in all at smoke size, against 2-3 s of slack with a 2 s heartbeat). Progress
on stderr; the last line of stdout is one JSON object.

    python bench/recovery.py [--mode backlog|empty|both] [--repeats 3] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis as redis_lib  # noqa: E402
from dramatiq import Message  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from fleet.store import graphs, migrate, node_runs  # noqa: E402
from fleet.store import runs as run_store  # noqa: E402
from fleet.store import runtimes as runtime_store  # noqa: E402
from fleet.store.db import make_engine  # noqa: E402
from fleet.testing.graphs import delay_chain  # noqa: E402
from fleet.testing.servers import PostgresServer, RedisServer, start_postgres, start_redis  # noqa: E402

TAIL_S = 3.0  # empty mode: the node running when the worker dies, redone on the other worker
NS = "dramatiq"  # Dramatiq's Redis namespace
QUEUES = ("fleet-urgent", "fleet")  # the Procfile's worker line (FLEET_*_QUEUE_NAME defaults)


def log(msg: str) -> None:
    """A progress line on stderr."""
    print(msg, file=sys.stderr, flush=True)


def wait_for(cond: Callable[[], Any], timeout: float, what: str, poll: float = 0.05) -> Any:
    """Poll ``cond`` until truthy, or raise naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (and is not a zombie of ours)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def summary(values: list[float]) -> dict[str, Any]:
    """Median, worst and every value, rounded."""
    return {"median": round(statistics.median(values), 2) if values else None,
            "worst": round(max(values), 2) if values else None,
            "all": [round(x, 2) for x in values]}


class Fleet:
    """Worker processes of one benchmark; every one is killed at the end."""

    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env, self.logdir = env, logdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, threads: int) -> None:
        """Start one ``dramatiq actors.main`` invocation as the Procfile's worker line does,
        with one process."""
        log_file = open(self.logdir / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "actors.main", "--path", str(ROOT),
             "--processes", "1", "--threads", str(threads), "--queues", *QUEUES],
            cwd=ROOT, env=self.env, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True))

    def close(self) -> None:
        """SIGKILL every process group started."""
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)


@dataclass
class Bench:
    """What both modes share: servers, environment, settings, the workers."""

    lease_s: float
    beat_s: float
    pg: PostgresServer
    redis: RedisServer
    fleet: Fleet
    engine: Any = None
    settings: Any = None
    send: Any = None
    broker: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, lease_s: float, beat_s: float, label: str) -> Bench:
        pg, redis = start_postgres(), start_redis()
        logdir = Path(tempfile.mkdtemp(prefix=f"fleet-bench-recovery-{label}-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
        env.update(FLEET_DATABASE_URL=pg.url, FLEET_REDIS_URL=redis.url,
                   FLEET_LEASE_TTL_S=str(lease_s), FLEET_HEARTBEAT_INTERVAL_S=str(beat_s),
                   FLEET_LIVENESS_KEY_TTL_S=str(max(90.0, lease_s)))
        bench = cls(lease_s, beat_s, pg, redis, Fleet(env, logdir))
        log(f"{label}: logs in {logdir}")
        migrate.upgrade(pg.url)
        bench.engine = make_engine(pg.url)
        from fleet.settings import Settings
        from fleet.worker.broker import build_broker, make_sender

        bench.settings = Settings(database_url=pg.url, redis_url=redis.url,
                                  lease_ttl_s=lease_s, heartbeat_interval_s=beat_s,
                                  _env_file=None)
        assert (bench.settings.urgent_queue_name, bench.settings.queue_name) == QUEUES
        bench.broker = build_broker(bench.settings)
        bench.send = make_sender(bench.broker, bench.settings.queue_name)
        return bench

    def close(self) -> None:
        self.fleet.close()
        if self.broker is not None:
            self.broker.close()
        if self.engine is not None:
            self.engine.dispose()
        self.redis.close()
        self.pg.stop()

    def add_graph(self, graph_id: str, delays: list[float]) -> None:
        with Session(self.engine) as s:
            graphs.add_version(s, graph_id=graph_id, user_id="bench", name=graph_id,
                               description="", definition=delay_chain(graph_id, delays),
                               timeout_s=3600, max_attempts=5, now=datetime.now(UTC))
            s.commit()

    def submit(self, graph_id: str, n: int = 1) -> list[str]:
        from fleet.engine.blocks.registry import default_registry
        from fleet.runs.submit import submit

        registry, ids = default_registry(), []
        with Session(self.engine, expire_on_commit=False) as s:
            for _ in range(n):
                ids.append(submit(s, graph_id=graph_id, version=None, inputs={},
                                  user_id="bench", now=datetime.now(UTC), send=self.send,
                                  registry=registry, settings=self.settings).id)
        return ids

    def live_runtimes(self) -> list[Any]:
        """Online runtimes whose process is alive (the dead keep their row until a sweep)."""
        with Session(self.engine) as s:
            return [r for r in runtime_store.list_runtimes(s, status="online")
                    if pid_alive(r.pid)]


# --- empty mode ---------------------------------------------------------------------------


def empty_mode(lease_s: float, beat_s: float, repeats: int) -> dict[str, Any]:
    """One long run on an idle fleet of two workers; kill the holder mid-run."""
    bench = Bench.open(lease_s, beat_s, "empty")
    running_again: list[float] = []
    completed: list[float] = []
    try:
        bench.add_graph("recovery", [0.2, TAIL_S, 0])  # a -> b -> c (waits TAIL_S) -> d
        engine = bench.engine
        bench.fleet.start(threads=4)
        bench.fleet.start(threads=4)
        for i in range(repeats):
            wait_for(lambda: len(bench.live_runtimes()) >= 2, 60, "two online workers")
            run_id = bench.submit("recovery")[0]

            def mid_run(run_id: str = run_id) -> Any:
                with Session(engine) as s:
                    done = {n.node_id for n in node_runs.for_run(s, run_id)}
                    row = run_store.get(s, run_id)
                    return row if row and row.state == "running" and "b" in done else None

            row = wait_for(mid_run, 60, "the run to be mid-way")
            holder = next(r for r in bench.live_runtimes() if r.id == row.runtime_id)
            os.kill(holder.pid, signal.SIGKILL)
            t0 = time.monotonic()

            def again(run_id: str = run_id, first: str = holder.id) -> bool:
                with Session(engine) as s:
                    r = run_store.get(s, run_id)
                    return bool(r and r.state in ("running", "completed")
                                and r.runtime_id != first)

            wait_for(again, lease_s * 3 + 60, "the run to run again")
            running_again.append(time.monotonic() - t0)

            def finished(run_id: str = run_id) -> bool:
                with Session(engine) as s:
                    r = run_store.get(s, run_id)
                    return bool(r and r.state == "completed")

            wait_for(finished, TAIL_S + 60, "the run to complete")
            completed.append(time.monotonic() - t0)
            log(f"empty, kill {i + 1}: running again after {running_again[-1]:.1f}s, "
                f"completed after {completed[-1]:.1f}s")
            if i + 1 < repeats:
                bench.fleet.start(threads=4)  # the killed process's dramatiq parent exits too
    finally:
        bench.close()
    goal = lease_s + beat_s
    return {
        "goal_s": goal,
        "repeats": repeats,
        "running_again_s": summary(running_again),
        "completed_s": summary(completed),
        "redone_node_s": TAIL_S,
        "running_again_vs_lease": round(statistics.median(running_again) / lease_s, 3),
        "within_goal": max(running_again) <= goal,
    }


# --- backlog mode -------------------------------------------------------------------------


def acked_run_ids(client: redis_lib.Redis, consumer_id: str) -> dict[str, str]:
    """Run id -> queue of every message in the consumer's acks sets (fetched, not acked)."""
    found: dict[str, str] = {}
    for queue in QUEUES:
        ids = list(client.smembers(f"{NS}:__acks__.{consumer_id}.{queue}"))
        if not ids:
            continue
        for payload in client.hmget(f"{NS}:{queue}.msgs", ids):
            if isinstance(payload, bytes) and payload:
                args = Message.decode(payload).args
                if args and isinstance(args[0], str):
                    found[args[0]] = queue
    return found


def states(engine: Any, run_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """``run id -> (state, runtime_id)``."""
    if not run_ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, state, runtime_id FROM runs WHERE id = ANY(:ids)"),
                            {"ids": list(run_ids)}).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def running_counts(engine: Any) -> dict[str, int]:
    """Running runs per runtime."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT runtime_id, count(*) FROM runs WHERE state = 'running' "
                                 "GROUP BY runtime_id")).all()
    return {r[0]: int(r[1]) for r in rows}


@dataclass
class BacklogPlan:
    """The shape of the backlog mode."""

    workers: int
    threads: int
    run_s: float  # mean duration of a backlog run (uniform over [0.5, 1.5] x this)
    ahead: int  # runs queued ahead of the victim's at the kill, at least
    settle_s: float  # saturated this long before a kill (runs fall out of step)
    poll_s: float


def backlog_mode(lease_s: float, beat_s: float, repeats: int, plan: BacklogPlan,
                 seed: int) -> dict[str, Any]:
    """Busy workers, 100+ runs queued ahead; kill the busiest worker; time its runs' return."""
    rng = random.Random(seed)
    goal_running, goal_fetched = lease_s + beat_s, 2 * lease_s
    bench = Bench.open(lease_s, beat_s, "backlog")
    client = redis_lib.Redis.from_url(bench.redis.url)
    kills: list[dict[str, Any]] = []
    all_running: list[float] = []
    all_fetched: list[float] = []
    missing = 0
    try:
        engine = bench.engine
        durations = [plan.run_s * (0.5 + k / 8) for k in range(9)]  # 0.5x .. 1.5x
        for k, d in enumerate(durations):
            bench.add_graph(f"backlog{k}", [round(d, 3)])

        def submit_some(n: int) -> None:
            for _ in range(n):
                bench.submit(f"backlog{rng.randrange(len(durations))}")

        # Enough runs queued that, after a kill, the queue has not drained by the
        # fetched-runs goal: the survivors take about threads / run_s runs per second each.
        survivors_rate = (plan.workers - 1) * plan.threads / plan.run_s
        target = plan.ahead + int(survivors_rate * (goal_fetched + 5))
        log(f"backlog: {plan.workers} workers x {plan.threads} threads, runs of "
            f"{durations[0]:.1f}-{durations[-1]:.1f}s, queue kept at >= {target} at each kill")
        for _ in range(plan.workers):
            bench.fleet.start(threads=plan.threads)
        wait_for(lambda: len(bench.live_runtimes()) >= plan.workers, 90,
                 f"{plan.workers} online workers", poll=0.2)

        def queue_len() -> int:
            return int(client.llen(f"{NS}:fleet"))

        def top_up() -> None:
            while (short := target - queue_len()) > 0:
                submit_some(min(short, 100))

        for i in range(repeats):
            top_up()

            def saturated() -> bool:
                live = bench.live_runtimes()
                counts = running_counts(engine)
                return len(live) >= plan.workers and all(
                    counts.get(r.id, 0) >= plan.threads for r in live)

            wait_for(saturated, 120, "every worker thread busy", poll=0.2)
            deadline = time.monotonic() + plan.settle_s
            while time.monotonic() < deadline:  # let the runs fall out of step, queue full
                top_up()
                time.sleep(min(1.0, plan.settle_s))
            top_up()
            wait_for(saturated, 60, "every worker thread busy", poll=0.1)

            counts = running_counts(engine)
            live = bench.live_runtimes()
            victim = max(live, key=lambda r: counts.get(r.id, 0))
            consumer = (victim.info or {}).get("consumer_id")
            assert consumer, f"runtime {victim.id} recorded no consumer_id"
            os.kill(victim.pid, signal.SIGKILL)
            t0 = time.monotonic()
            ahead = queue_len()  # the dead consumer's sets can no longer change
            acked = acked_run_ids(client, consumer)
            with engine.connect() as conn:
                executing = [r[0] for r in conn.execute(text(
                    "SELECT id FROM runs WHERE runtime_id = :rt AND state = 'running'"),
                    {"rt": victim.id}).all()]
            before = states(engine, list(acked))
            fetched = [rid for rid in acked if before.get(rid, ("", None))[0] == "queued"]
            log(f"backlog, kill {i + 1}: pid {victim.pid} ({victim.id}) executing "
                f"{len(executing)}, fetched but not started {len(fetched)}, "
                f"{ahead} queued ahead in Redis")

            back: dict[str, float] = {}
            left_at: dict[str, int] = {}
            tracked = executing + fetched
            limit = goal_fetched + 60
            while len(back) < len(tracked) and time.monotonic() - t0 < limit:
                now_states = states(engine, [r for r in tracked if r not in back])
                elapsed = time.monotonic() - t0
                qlen = None
                for rid, (state, runtime_id) in now_states.items():
                    if state != "queued" and runtime_id != victim.id:
                        back[rid] = elapsed
                        qlen = queue_len() if qlen is None else qlen
                        left_at[rid] = qlen
                time.sleep(plan.poll_s)
            run_back = [back[r] for r in executing if r in back]
            fetched_back = [back[r] for r in fetched if r in back]
            lost = len(tracked) - len(back)
            missing += lost
            all_running += run_back
            all_fetched += fetched_back
            kills.append({
                "executing": len(executing),
                "fetched_not_started": len(fetched),
                "queued_ahead_at_kill": ahead,
                "queue_left_when_last_started": min(left_at.values()) if left_at else None,
                "running_again_s": summary(run_back),
                "fetched_running_s": summary(fetched_back),
                "not_back_within_s": {"count": lost, "limit_s": limit},
            })
            log(f"  executing runs running again after: worst "
                f"{max(run_back, default=float('nan')):.1f}s (goal {goal_running:g}s); fetched "
                f"running after: worst {max(fetched_back, default=float('nan')):.1f}s (goal "
                f"{goal_fetched:g}s); {kills[-1]['queue_left_when_last_started']} still queued "
                f"when the last started" + (f"; {lost} NOT back within {limit:g}s" if lost else ""))
            if i + 1 < repeats:
                bench.fleet.start(threads=plan.threads)  # the dead process's parent exits too
                wait_for(lambda: len(bench.live_runtimes()) >= plan.workers, 90,
                         "a fresh worker online", poll=0.2)
    finally:
        client.close()
        bench.close()
    ok_running = bool(all_running) and max(all_running) <= goal_running
    ok_fetched = (max(all_fetched) <= goal_fetched) if all_fetched else True
    min_ahead = min(k["queued_ahead_at_kill"] for k in kills)
    # The measure means something only with the backlog it promises ahead of the victim's.
    shaped = min_ahead >= plan.ahead and all(k["executing"] for k in kills)
    return {
        "workers": plan.workers,
        "threads": plan.threads,
        "run_s": [round(plan.run_s * 0.5, 2), round(plan.run_s * 1.5, 2)],
        "min_queued_ahead": plan.ahead,
        "repeats": repeats,
        "goal_running_again_s": goal_running,
        "goal_fetched_running_s": goal_fetched,
        "running_again_s": summary(all_running) | {"goal_s": goal_running},
        "fetched_running_s": summary(all_fetched) | {"goal_s": goal_fetched},
        "min_queued_ahead_at_kill": min_ahead,
        "backlog_as_planned": shaped,
        "not_back": missing,
        "kills": kills,
        "within_goals": ok_running and ok_fetched and missing == 0 and shaped,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("backlog", "empty", "both"), default="both",
                        help="backlog: busy fleet, 100+ runs queued ahead (default with "
                             "empty: both); empty: one run on an idle fleet")
    parser.add_argument("--repeats", type=int, default=3, help="kills per mode")
    parser.add_argument("--workers", type=int, default=None,
                        help="backlog: worker processes (default 3)")
    parser.add_argument("--threads", type=int, default=None,
                        help="backlog: threads per worker (default 8, the Procfile's; smoke 4)")
    parser.add_argument("--run-seconds", type=float, default=None,
                        help="backlog: mean run duration (default 10; smoke 1)")
    parser.add_argument("--ahead", type=int, default=100,
                        help="backlog: runs queued ahead of the victim's at each kill, at least")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--smoke", action="store_true",
                        help="short leases (8 s, heartbeat 3 s), one kill per mode; exit 1 when "
                             "a goal is broken")
    args = parser.parse_args(argv)
    lease_s, beat_s = (8.0, 3.0) if args.smoke else (60.0, 15.0)
    repeats = 1 if args.smoke else args.repeats
    plan = BacklogPlan(
        workers=args.workers or 3,
        threads=args.threads or (4 if args.smoke else 8),
        run_s=args.run_seconds or (1.0 if args.smoke else 10.0),
        ahead=args.ahead,
        settle_s=3.0 if args.smoke else 20.0,
        poll_s=0.1 if args.smoke else 0.25)
    started = time.monotonic()
    result: dict[str, Any] = {
        "bench": "recovery", "smoke": args.smoke, "mode": args.mode,
        "lease_ttl_s": lease_s, "heartbeat_interval_s": beat_s,
        "goal_running_again_s": lease_s + beat_s, "goal_fetched_running_s": 2 * lease_s,
    }
    ok = True
    if args.mode in ("backlog", "both"):
        result["backlog"] = backlog_mode(lease_s, beat_s, repeats, plan, args.seed)
        ok = ok and result["backlog"]["within_goals"]
    if args.mode in ("empty", "both"):
        result["empty"] = empty_mode(lease_s, beat_s, repeats)
        ok = ok and result["empty"]["within_goal"]
    result["within_goals"] = ok
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))
    if args.smoke and not ok:
        log("FAILED: a recovery goal was broken (see the JSON line)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
