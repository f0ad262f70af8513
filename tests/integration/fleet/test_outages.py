"""Outages, as an operator meets them: the Procfile's real processes, Redis and PostgreSQL
stopped and started again under them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from fleet.clock import utcnow
from fleet.engine.blocks.registry import default_registry
from fleet.graphs.service import add_graph
from fleet.runs.submit import submit
from fleet.scheduling import service as schedules
from fleet.settings import Settings
from fleet.store import alerts as alert_store
from fleet.store import migrate
from fleet.store import runs as store
from fleet.store.db import make_engine
from fleet.testing.graphs import delay_chain
from fleet.testing.servers import RedisServer, free_port, start_postgres
from fleet.worker.broker import build_broker, make_sender
from tests.integration.fleet.procs import Workers, online_runtimes, truncate, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
QUICK = {"id": "quick", "nodes": [{"id": "a", "block": "constant", "inputs": {"value": "x"}},
                                  {"id": "t", "block": "template",
                                   "inputs": {"template": "got {value}"}}],
         "links": [{"source": "a.value", "sink": "t.value"}]}


def _env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update({"FLEET_DATABASE_URL": database_url, "FLEET_REDIS_URL": redis_url,
                "FLEET_WEB_PORT": str(free_port()), "PATH": f"{BIN}:{env.get('PATH', '')}",
                "PYTHONPATH": str(ROOT), **extra})
    return env


def _states(url: str, ids: list[str]) -> dict[str, str]:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return {i: (r.state if (r := store.get(s, i)) else "missing") for i in ids}
    finally:
        engine.dispose()


@pytest.fixture
def stoppable_redis(redis_server: RedisServer, redis_url: str) -> Iterator[RedisServer]:
    if not redis_server.managed:
        pytest.skip("needs a throwaway Redis it may stop (FLEET_TEST_REDIS_URL is set)")
    yield redis_server
    redis_server.start()


def test_the_procfile_rides_out_a_redis_outage(postgres_url: str, stoppable_redis: RedisServer,
                                              redis_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=postgres_url, redis_url=redis_url,  # type: ignore[call-arg]
                        _env_file=None)
    engine = make_engine(postgres_url)
    truncate(engine)
    registry = default_registry()
    with Session(engine, expire_on_commit=False) as s:
        add_graph(s, QUICK, "alice", utcnow(), registry, settings=settings)
        schedules.add(s, utcnow(), settings=settings, registry=registry, user_id="alice",
                      graph_id="quick", cron_expr="* * * * *", overlap="allow")
    log = open(tmp_path / "honcho.log", "wb")  # noqa: SIM115
    honcho = subprocess.Popen(
        [str(BIN / "honcho"), "-f", str(ROOT / "Procfile"), "-d", str(ROOT), "start"],
        cwd=ROOT, env=_env(postgres_url, redis_url, FLEET_SCHEDULER_SILENCE_S="65"),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def logs() -> str:
        return (tmp_path / "honcho.log").read_text(errors="replace")[-6000:]

    def scheduled_done() -> int:
        with Session(engine) as s:
            return sum(1 for r in store.list_runs(s, state="completed", limit=500)
                       if r.schedule_id)

    try:
        # Schedules fire and their runs complete.
        wait_for(lambda: scheduled_done() >= 1, 150, "a scheduled run to complete", logs)
        # Redis goes away for 80 s; runs are submitted meanwhile (their rows are kept).
        stoppable_redis.stop()
        broker = build_broker(settings)
        send = make_sender(broker, settings.queue_name)
        with Session(engine, expire_on_commit=False) as s:
            during = [submit(s, graph_id="quick", version=None, inputs={}, user_id="alice",
                             now=utcnow(), send=send, registry=registry, settings=settings).id
                      for _ in range(5)]
        time.sleep(80)
        assert honcho.poll() is None, f"a process died during the outage:\n{logs()}"
        stoppable_redis.start()
        back = time.monotonic()
        wait_for(lambda: set(_states(postgres_url, during).values()) == {"completed"}, 90,
                 "the runs submitted during the outage to complete", logs)
        print(f"runs submitted during the outage completed {time.monotonic() - back:.1f}s "
              "after Redis came back")
        assert honcho.poll() is None, f"a process died after the outage:\n{logs()}"

        def silence_alert() -> Any:
            with Session(engine) as s:
                return alert_store.get(s, "scheduler_silent", "dispatch")

        # The 80 s without a dispatcher run (threshold 65 s) raised the ops alert, which
        # resolves once the scheduler runs again.
        wait_for(lambda: (a := silence_alert()) is not None and a.state == "resolved", 120,
                 "the scheduler-silence alert to fire and resolve", logs)
        broker.close()
    finally:
        if honcho.poll() is None:
            os.killpg(honcho.pid, signal.SIGTERM)
            try:
                honcho.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(honcho.pid, signal.SIGKILL)
        engine.dispose()


def test_a_postgres_outage_costs_time_not_attempts(redis_url: str, tmp_path: Path) -> None:
    pg = start_postgres(own=True)
    workers: Workers | None = None
    try:
        migrate.upgrade(pg.url)
        settings = Settings(database_url=pg.url, redis_url=redis_url,  # type: ignore[call-arg]
                            _env_file=None)
        engine = make_engine(pg.url)
        registry = default_registry()
        slow = delay_chain("slow", [0.1, 6.0, 0])
        with Session(engine, expire_on_commit=False) as s:
            add_graph(s, slow, "alice", utcnow(), registry, settings=settings)
        workers = Workers(pg.url, redis_url, {}, tmp_path)  # default leases: 60 s
        for _ in range(2):
            workers.start(threads=4)
        wait_for(lambda: len(online_runtimes(engine)) == 2, 60, "2 runtimes online",
                 workers.logs)
        broker = build_broker(settings)
        send = make_sender(broker, settings.queue_name)
        with Session(engine, expire_on_commit=False) as s:
            ids = [submit(s, graph_id="slow", version=None, inputs={}, user_id="alice",
                          now=utcnow(), send=send, registry=registry, settings=settings).id
                   for _ in range(6)]
        wait_for(lambda: list(_states(pg.url, ids).values()).count("running") >= 4, 60,
                 "runs to be executing", workers.logs)
        engine.dispose()
        pg.halt()
        time.sleep(20)
        assert all(p.poll() is None for p in workers.procs), workers.logs()
        pg.resume()
        back = time.monotonic()
        wait_for(lambda: set(_states(pg.url, ids).values()) == {"completed"}, 60,
                 "every run to complete after the outage", workers.logs)
        took = time.monotonic() - back
        assert took < 30, f"the runs finished {took:.1f}s after PostgreSQL came back"
        assert all(p.poll() is None for p in workers.procs), workers.logs()
        engine = make_engine(pg.url)
        with Session(engine) as s:
            rows = [store.get(s, i) for i in ids]
        assert [r.attempt_count for r in rows if r] == [1] * 6  # no attempt spent
        broker.close()
        engine.dispose()
    finally:
        if workers is not None:  # also on failure: a leftover worker takes later tests' messages
            workers.stop_all()
        with contextlib.suppress(Exception):
            pg.resume()
        pg.stop()
