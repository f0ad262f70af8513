"""Recovery after ``kill -9``: seconds until the run is running again elsewhere, and done.

Two ``dramatiq actors`` worker processes on a throwaway PostgreSQL and Redis,
with the default lease (60 s) and heartbeat (15 s) settings. A long run is
submitted; once its first nodes are checkpointed the process holding it is
killed with SIGKILL. We time how long until the run is ``running`` again on
the other worker (goal: lease TTL + one heartbeat = 75 s) and until it
completes. Repeated a few times (a fresh spare worker each time); prints the
median and the worst beside the lease TTL, as one JSON object on the last line.

    python bench/recovery.py [--repeats 3] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlmodel import Session  # noqa: E402

from fleet.store import graphs, migrate, node_runs  # noqa: E402
from fleet.store import runs as run_store  # noqa: E402
from fleet.store import runtimes as runtime_store  # noqa: E402
from fleet.store.db import make_engine  # noqa: E402
from fleet.testing.graphs import delay_chain  # noqa: E402
from fleet.testing.servers import start_postgres, start_redis  # noqa: E402

TAIL_S = 3.0  # the node running when the worker dies: redone on the other worker


def graph(tail_s: float) -> dict[str, Any]:
    """a -> b -> c (waits ``tail_s``) -> d."""
    return delay_chain("recovery", [0.2, tail_s, 0])


def wait_for(cond: Callable[[], Any], timeout: float, what: str, poll: float = 0.05) -> Any:
    """Poll ``cond`` until truthy, or raise naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


class Fleet:
    """Worker processes of one benchmark; every one is killed at the end."""

    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env, self.logdir = env, logdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, threads: int = 4, processes: int = 1) -> None:
        """Start one ``dramatiq actors`` invocation."""
        log = open(self.logdir / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "actors.main", "--path", str(ROOT),
             "--processes", str(processes), "--threads", str(threads)],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True))

    def close(self) -> None:
        """SIGKILL every process group started."""
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)


def online(engine: Any) -> list[Any]:
    """Online runtimes."""
    with Session(engine) as s:
        return runtime_store.list_runtimes(s, status="online")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true",
                        help="short leases (3 s, heartbeat 0.5 s), one repetition")
    args = parser.parse_args(argv)
    lease_s, beat_s = (3.0, 0.5) if args.smoke else (60.0, 15.0)
    repeats = 1 if args.smoke else args.repeats

    pg, redis = start_postgres(), start_redis()
    logdir = Path(tempfile.mkdtemp(prefix="fleet-bench-recovery-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update(FLEET_DATABASE_URL=pg.url, FLEET_REDIS_URL=redis.url,
               FLEET_LEASE_TTL_S=str(lease_s), FLEET_HEARTBEAT_INTERVAL_S=str(beat_s),
               FLEET_LIVENESS_KEY_TTL_S=str(max(90.0, lease_s)))
    fleet = Fleet(env, logdir)
    engine = None
    running_again: list[float] = []
    completed: list[float] = []
    try:
        migrate.upgrade(pg.url)
        engine = make_engine(pg.url)
        from fleet.engine.blocks.registry import default_registry
        from fleet.runs.submit import submit
        from fleet.settings import Settings
        from fleet.worker.broker import build_broker, make_sender

        settings = Settings(database_url=pg.url, redis_url=redis.url,  # type: ignore[call-arg]
                            lease_ttl_s=lease_s, heartbeat_interval_s=beat_s, _env_file=None)
        broker = build_broker(settings)
        send = make_sender(broker, settings.queue_name)
        with Session(engine) as s:
            definition = graph(TAIL_S)
            graphs.add_version(s, graph_id="recovery", user_id="bench", name="recovery",
                               description="", definition=definition, timeout_s=3600,
                               max_attempts=5, now=datetime.now(UTC))
            s.commit()
        fleet.start()
        fleet.start()
        for i in range(repeats):
            wait_for(lambda: len(online(engine)) >= 2, 60, "two online workers")
            with Session(engine, expire_on_commit=False) as s:
                run = submit(s, graph_id="recovery", version=None, inputs={}, user_id="bench",
                             now=datetime.now(UTC), send=send, registry=default_registry(),
                             settings=settings)

            def mid_run(run_id: str = run.id) -> Any:
                with Session(engine) as s:
                    done = {n.node_id for n in node_runs.for_run(s, run_id)}
                    row = run_store.get(s, run_id)
                    return row if row and row.state == "running" and "b" in done else None

            row = wait_for(mid_run, 60, "the run to be mid-way")
            holder = next(r for r in online(engine) if r.id == row.runtime_id)
            os.kill(holder.pid, signal.SIGKILL)
            t0 = time.monotonic()

            def again(run_id: str = run.id, first: str = holder.id) -> bool:
                with Session(engine) as s:
                    r = run_store.get(s, run_id)
                    return bool(r and r.state in ("running", "completed")
                                and r.runtime_id != first)

            wait_for(again, lease_s * 3 + 60, "the run to run again")
            running_again.append(time.monotonic() - t0)

            def finished(run_id: str = run.id) -> bool:
                with Session(engine) as s:
                    r = run_store.get(s, run_id)
                    return bool(r and r.state == "completed")

            wait_for(finished, TAIL_S + 60, "the run to complete")
            completed.append(time.monotonic() - t0)
            print(f"repeat {i + 1}: running again after {running_again[-1]:.1f}s, "
                  f"completed after {completed[-1]:.1f}s", file=sys.stderr)
            if i + 1 < repeats:
                # The killed process's dramatiq parent exits too; start a fresh spare.
                with Session(engine) as s:
                    runtime_store.mark_offline(s, [holder.id], datetime.now(UTC))
                    s.commit()
                fleet.start()
        broker.close()
    finally:
        fleet.close()
        if engine is not None:
            engine.dispose()
        redis.close()
        pg.stop()
    result = {
        "bench": "recovery",
        "smoke": args.smoke,
        "lease_ttl_s": lease_s,
        "heartbeat_interval_s": beat_s,
        "goal_s": lease_s + beat_s,
        "repeats": repeats,
        "running_again_s": {"median": round(statistics.median(running_again), 2),
                            "worst": round(max(running_again), 2),
                            "all": [round(x, 2) for x in running_again]},
        "completed_s": {"median": round(statistics.median(completed), 2),
                        "worst": round(max(completed), 2),
                        "all": [round(x, 2) for x in completed]},
        "redone_node_s": TAIL_S,
        "running_again_vs_lease": round(statistics.median(running_again) / lease_s, 3),
        "worst_within_goal": max(running_again) <= lease_s + beat_s,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
