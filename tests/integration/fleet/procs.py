"""Real ``dramatiq actors`` worker processes for the fleet tests and benchmarks' helpers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel

import fleet.store.models  # noqa: F401  (registers every table)
from fleet.store import graphs
from fleet.store import runs as store
from fleet.store.models import Runtime
from fleet.testing.graphs import delay_chain

ROOT = Path(__file__).resolve().parents[3]

# Short leases so that recovery takes seconds, not minutes.
FAST_ENV = {
    "FLEET_LEASE_TTL_S": "3",
    "FLEET_HEARTBEAT_INTERVAL_S": "0.5",
    "FLEET_LIVENESS_KEY_TTL_S": "3",
    "FLEET_SHUTDOWN_GRACE_S": "10",
}

CHAIN: dict[str, Any] = delay_chain("chain", [0, 0])


def slow_chain(seconds: float) -> dict[str, Any]:
    """a -> b -> c (waits ``seconds``) -> d: a run that is mid-way for a while."""
    return delay_chain("slow", [0.1, seconds, 0])


def truncate(engine: Engine) -> None:
    """Empty every table (PostgreSQL)."""
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def add_graph(session: Session, definition: dict[str, Any], now: Any, *,
              user: str = "alice", max_attempts: int = 3, timeout_s: float = 600) -> None:
    """Store ``definition`` as a graph of ``user``."""
    graphs.add_version(session, graph_id=definition["id"], user_id=user,
                       name=definition["id"], description="", definition=definition,
                       timeout_s=timeout_s, max_attempts=max_attempts, now=now)
    session.commit()


class Workers:
    """``dramatiq actors`` processes started for one test; all killed at the end."""

    def __init__(self, database_url: str, redis_url: str, extra_env: dict[str, str],
                 log_dir: Path) -> None:
        self.env = {**os.environ, "FLEET_DATABASE_URL": database_url,
                    "FLEET_REDIS_URL": redis_url, **extra_env}
        self.env.pop("FLEET_TEST_POSTGRES_URL", None)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log_dir = log_dir

    def start(self, threads: int = 4) -> subprocess.Popen[bytes]:
        """One ``dramatiq`` invocation with one worker process."""
        log = open(self.log_dir / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "actors.main", "--path", str(ROOT),
             "--processes", "1", "--threads", str(threads), "--queues", "fleet-urgent", "fleet"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        """Every worker log, for assertion messages."""
        return "\n".join(p.read_text(errors="replace")[-3000:]
                         for p in sorted(self.log_dir.glob("worker-*.log")))

    def stop_all(self) -> None:
        """Kill every process group this object started."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)


def wait_for(cond: Callable[[], Any], timeout: float, what: str,
             logs: Callable[[], str] | None = None, interval: float = 0.1) -> Any:
    """Poll ``cond`` until truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         + (f"\n--- worker logs ---\n{logs()}" if logs else ""))


def online_runtimes(engine: Engine) -> list[Runtime]:
    """Runtimes currently marked online."""
    from fleet.store import runtimes

    with Session(engine) as s:
        return runtimes.list_runtimes(s, status="online")


def run_row(engine: Engine, run_id: str) -> Any:
    """A fresh read of one run."""
    with Session(engine) as s:
        return store.get(s, run_id)


def states(engine: Engine) -> dict[str, int]:
    """Runs per state."""
    with Session(engine) as s:
        return store.count_by_state(s)
