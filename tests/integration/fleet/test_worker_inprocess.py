"""fleet's middleware on a real Dramatiq Worker with the in-memory broker (one process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import dramatiq
import pytest
from dramatiq import Worker
from sqlmodel import Session

from fleet.runs.leases import Lease
from fleet.runtime.app import FleetApp, build
from fleet.runtime.broker import EXECUTE_ACTOR
from fleet.runtime.execution import execute_message
from fleet.settings import Settings
from fleet.store import runs as store
from fleet.store import runtimes as runtime_store
from tests.helpers import make_run
from tests.integration.fleet.support import FakeStop, ScriptedExecutor


def _wait(cond: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def app(db_url: str) -> Iterator[FleetApp]:
    settings = Settings(database_url=db_url, heartbeat_interval_s=0.2,  # type: ignore[call-arg]
                        lease_ttl_s=5, shutdown_grace_s=5, _env_file=None)
    fleet_app = build(settings, name="test")
    fleet_app.runtime.make_stop = FakeStop
    fleet_app.runtime._registry = object()
    yield fleet_app
    fleet_app.heartbeat.stop()
    fleet_app.runtime.close()


def _declare(app: FleetApp, executor: ScriptedExecutor) -> None:
    @dramatiq.actor(actor_name=EXECUTE_ACTOR, queue_name=app.settings.queue_name,
                    max_retries=0, broker=app.broker)
    def execute_graph(run_id: str) -> None:
        execute_message(app.runtime, run_id, execute=executor)


def test_worker_registers_beats_executes_and_goes_offline(app: FleetApp, session: Session,
                                                         now: datetime) -> None:
    executor = ScriptedExecutor()
    _declare(app, executor)
    runs = [make_run(session, now) for _ in range(5)]
    worker = Worker(app.broker, worker_threads=3)
    worker.start()
    try:
        rt = app.runtime
        row = runtime_store.get(session, rt.runtime_id)
        assert row is not None and row.status == "online" and row.concurrency == 3
        assert app.heartbeat.running
        for r in runs:
            rt.send(r.id)
            rt.send(r.id)  # duplicate delivery
        app.broker.join(app.settings.queue_name, timeout=10_000)
        worker.join()
        assert sorted(lease.run_id for lease in executor.calls) == sorted(r.id for r in runs)
        session.rollback()
    finally:
        worker.stop(timeout=10_000)
    session.rollback()
    row = runtime_store.get(session, rt.runtime_id)
    assert row is not None and row.status == "offline"
    assert not app.heartbeat.running


def test_graceful_stop_puts_in_flight_run_back(app: FleetApp, session: Session,
                                              now: datetime) -> None:
    started = threading.Event()

    def body(open_session: Any, lease: Lease, stop: FakeStop) -> str:
        started.set()
        stop.event.wait(10)
        return "stopped"

    _declare(app, ScriptedExecutor(body))
    run = make_run(session, now)
    worker = Worker(app.broker, worker_threads=1)
    worker.start()
    try:
        app.runtime.send(run.id)
        assert started.wait(10)
        row = store.get(session, run.id, fresh=True)
        assert row is not None and row.state == "running" and row.attempt_count == 1
        session.rollback()
    finally:
        worker.stop(timeout=10_000)
    row = store.get(session, run.id, fresh=True)
    assert row is not None and row.state == "queued" and row.attempt_count == 0
    transitions = [(e.from_state, e.to_state) for e in store.events(session, run.id)]
    assert transitions[-1] == ("running", "queued")


def test_heartbeat_thread_extends_leases(app: FleetApp, session: Session) -> None:
    release = threading.Event()
    leases_seen: list[Lease] = []

    def body(open_session: Any, lease: Lease, stop: FakeStop) -> str:
        leases_seen.append(lease)
        release.wait(10)
        return "done"

    _declare(app, ScriptedExecutor(body))
    now = app.runtime.clock()
    run = make_run(session, now)
    worker = Worker(app.broker, worker_threads=1)
    worker.start()
    try:
        app.runtime.send(run.id)
        assert _wait(lambda: bool(leases_seen))
        first = leases_seen[0].until

        def extended() -> bool:
            row = store.get(session, run.id, fresh=True)
            session.rollback()
            return row is not None and row.lease_until is not None and row.lease_until > first

        assert _wait(extended), "the heartbeat thread never extended the lease"
        release.set()
    finally:
        release.set()
        worker.stop(timeout=10_000)
