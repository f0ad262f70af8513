"""System jobs apart from runs: their own queue and threads, never starved, never dropped
silently, recorded in the store, and watched by every worker's heartbeat."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dramatiq import Message, Worker
from sqlmodel import Session
from typer.testing import CliRunner

import actors
import schedules
from fleet.cli.context import CliContext
from fleet.cli.main import build_app
from fleet.graphs.service import add_graph
from fleet.runs.submit import submit
from fleet.settings import Settings
from fleet.store import jobs as jobs_store
from fleet.store import runs as store
from fleet.testing import RecordingAlerts
from fleet.worker.app import FleetApp, build
from fleet.worker.heartbeat import Heartbeat
from fleet.worker.jobs import run_sweep
from fleet.worker.periodic import PeriodicActor
from fleet.worker.wiring import job_context
from tests.helpers import make_run

LONG = {"id": "long", "nodes": [{"id": "a", "block": "constant", "inputs": {"value": 1}},
                                {"id": "wait", "block": "delay", "inputs": {"seconds": 60}}],
        "links": [{"source": "a.value", "sink": "wait.value"}]}


@pytest.fixture
def app(db_url: str) -> Iterator[FleetApp]:
    settings = Settings(database_url=db_url, heartbeat_interval_s=0.2,  # type: ignore[call-arg]
                        lease_ttl_s=2.0, shutdown_grace_s=0.5, _env_file=None)
    fleet_app = build(settings, name="system-test", stub=True)
    actors.declare(fleet_app)
    schedules.declare(fleet_app)
    yield fleet_app
    fleet_app.heartbeat.stop()
    fleet_app.runtime.close()


def _periodic_message(app: FleetApp, job: str, age_s: float) -> Message[Any]:
    actor = app.broker.get_actor(f"sweep_{job}")
    at = (datetime.now(UTC) - timedelta(seconds=age_s)).replace(microsecond=0)
    return actor.message_with_options(scheduled_at=str(at))


def test_jobs_run_on_their_own_queue_while_every_run_thread_is_busy(
        app: FleetApp, session: Session) -> None:
    s = app.settings
    add_graph(session, LONG, "alice", app.runtime.clock(), app.runtime.block_registry(),
              settings=s)
    for _ in range(2):
        submit(session, graph_id="long", version=None, inputs={}, user_id="alice",
               now=app.runtime.clock(), send=app.runtime.send_or_raise,
               registry=app.runtime.block_registry(), settings=s)
    runs = Worker(app.broker, queues={s.queue_name, s.urgent_queue_name}, worker_threads=1)
    system = Worker(app.broker, queues={s.system_queue_name}, worker_threads=1)
    runs.start()
    system.start()
    try:
        deadline = time.monotonic() + 10
        while store.count_by_state(session).get("running", 0) < 1:
            session.rollback()
            assert time.monotonic() < deadline, "no run started"
            time.sleep(0.05)
        # Every run thread is busy (and a run waits behind it): the dispatcher still runs,
        # even 40 s late, and a stale resend is skipped loudly and counted.
        app.broker.enqueue(_periodic_message(app, "dispatch", 40))
        app.broker.enqueue(_periodic_message(app, "resend", 40))
        app.broker.enqueue(_periodic_message(app, "reaper", 1))
        app.broker.join(s.system_queue_name, timeout=10_000)
        system.join()
        session.rollback()
        jobs = jobs_store.all_jobs(session)
        assert jobs["dispatch"].last_outcome == "ok" and jobs["dispatch"].runs_total == 1
        assert jobs["reaper"].last_outcome == "ok"
        assert jobs["resend"].skipped_total == 1 and jobs["resend"].runs_total == 0
        assert store.count_by_state(session) == {"running": 1, "queued": 1}
    finally:
        runs.stop(timeout=5_000)
        system.stop(timeout=5_000)


def test_stale_jobs_are_skipped_with_a_warning(app: FleetApp,
                                               caplog: pytest.LogCaptureFixture) -> None:
    system = Worker(app.broker, queues={app.settings.system_queue_name}, worker_threads=1)
    system.start()
    try:
        with caplog.at_level(logging.WARNING):
            app.broker.enqueue(_periodic_message(app, "queued_expiry", 45))
            app.broker.join(app.settings.system_queue_name, timeout=10_000)
            system.join()
    finally:
        system.stop(timeout=5_000)
    assert any("skipping sweep_queued_expiry" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)


def test_the_scheduler_survives_a_broker_outage(caplog: pytest.LogCaptureFixture) -> None:
    from dramatiq.brokers.stub import StubBroker

    class Flaky(StubBroker):
        down = True

        def enqueue(self, message: Any, *, delay: int | None = None) -> Any:
            if self.down:
                raise ConnectionError("redis down")
            return super().enqueue(message, delay=delay)

    broker = Flaky()
    actor = PeriodicActor(lambda: None, actor_name="sweep_x", queue_name="q", priority=0,
                          broker=broker, options={})
    with caplog.at_level(logging.WARNING):
        assert actor.send_with_options(scheduled_at="x") is None
        assert actor.send_with_options(scheduled_at="y") is None  # no second line
        broker.down = False
        assert actor.send_with_options(scheduled_at="z") is not None
    lines = [r.getMessage() for r in caplog.records]
    assert sum("broker unreachable" in m for m in lines) == 1
    assert sum("reachable again" in m for m in lines) == 1
    assert broker.queues["q"].qsize() == 1


def test_every_job_run_is_recorded_and_listed(app: FleetApp, session: Session,
                                              settings: Settings) -> None:
    ctx = job_context(app.settings)
    run_sweep("queued_expiry", ctx, app.runtime.engine)
    run_sweep("queued_expiry", ctx, app.runtime.engine)
    job = jobs_store.get(session, "queued_expiry")
    assert job is not None and job.runs_total == 2 and job.last_outcome == "ok"
    assert job.last_duration_s is not None and job.last_report is not None
    result = CliRunner().invoke(build_app(), ["sweep", "--list", "--json"],
                                obj=CliContext(app.settings))
    listed = {r["name"]: r for r in json.loads(result.stdout)}
    assert listed["queued_expiry"]["runs"] == 2 and listed["queued_expiry"]["last_outcome"] == "ok"
    assert listed["dispatch"]["last_started_at"] is None  # never ran here


def test_heartbeat_alerts_once_when_no_scheduler_runs_and_resolves(
        app: FleetApp, session: Session) -> None:
    alerts = RecordingAlerts()
    app.runtime.alerts = alerts
    t0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    hb = Heartbeat(app.runtime)
    hb.booted_at = t0
    assert not hb.tick(t0 + timedelta(seconds=60)).scheduler_silent  # young worker: quiet
    report = hb.tick(t0 + timedelta(seconds=240))
    assert report.scheduler_silent and alerts.fired[-1]["kind"] == "scheduler_silent"
    assert "No scheduler has run since" in alerts.fired[-1]["message"]
    hb.tick(t0 + timedelta(seconds=250))  # within the minute: not checked again
    assert len(alerts.fired) == 1
    jobs_store.started(session, "dispatch", t0 + timedelta(seconds=290))
    session.commit()
    assert not hb.tick(t0 + timedelta(seconds=300)).scheduler_silent
    assert alerts.resolved[-1]["kind"] == "scheduler_silent"


def test_a_reaped_run_runs_ahead_of_a_backlog(app: FleetApp, session: Session) -> None:
    s = app.settings
    now = app.runtime.clock()
    backlog = [make_run(session, now, user_id="alice", graph_id="quick", graph_version=1,
                        commit=False) for _ in range(200)]
    session.commit()
    for r in backlog:
        app.runtime.send_or_raise(r.id)
    # A run held by a worker that died: its lease ends a second from now, while the
    # live worker is busy with the backlog; its own heartbeat reaps it then.
    dead = make_run(session, now - timedelta(minutes=5), state="running", runtime_id="dead",
                    lease_id="L", lease_until=now + timedelta(seconds=1), attempt_count=1,
                    user_id="alice", graph_id="quick", graph_version=1)
    started: list[str] = []
    lock = threading.Lock()

    def record(open_session: Any, lease: Any, **_: Any) -> str:
        with lock:
            started.append(lease.run_id)
        time.sleep(0.02)  # the backlog takes about 4 s
        return "ok"

    app.runtime.executor = record
    worker = Worker(app.broker, queues={s.queue_name, s.urgent_queue_name}, worker_threads=1)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while dead.id not in started or len(started) < 201:
            assert time.monotonic() < deadline, f"{len(started)} runs started"
            time.sleep(0.05)
    finally:
        worker.stop(timeout=5_000)
    position = started.index(dead.id)
    # Reaped about a second in (some backlog ran before it), then next in line, not 201st.
    assert 10 < position < 120, f"the reaped run ran {position + 1}th of {len(started)}"
    events = [e.detail or "" for e in store.events(session, dead.id)]
    assert any("lease expired; requeued" in d for d in events), events
