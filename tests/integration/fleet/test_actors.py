"""The real actors on a real Dramatiq Worker: one suite, on the in-memory broker and on Redis.

Each test builds an application on its own broker (``fleet.worker.app.build``,
nothing global), declares the real ``actors`` on it, and drives runs through
the real executor and blocks: submit and execute, retry after a worker
failure, cancel, approve and resume, graceful shutdown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dramatiq import Worker
from sqlmodel import Session

import actors
from fleet.engine.blocks.registry import default_registry
from fleet.graphs.service import add_graph
from fleet.runs import control
from fleet.runs.execute import execute
from fleet.runs.submit import submit
from fleet.settings import Settings
from fleet.store import node_runs
from fleet.store import runs as store
from fleet.store import runtimes as runtime_store
from fleet.store.models import Run
from fleet.worker.app import FleetApp, build

REG = default_registry()
HELLO = {"id": "hello", "inputs": {"who": {"type": "string", "required": True,
                                           "targets": ["greet.value"]}},
         "nodes": [{"id": "greet", "block": "template",
                    "inputs": {"template": "Hello, {value}!"}}],
         "outputs": {"text": "greet.text"}}
SLOW = {"id": "slow", "nodes": [{"id": "a", "block": "constant", "inputs": {"value": 1}},
                                {"id": "wait", "block": "delay", "inputs": {"seconds": 30}}],
        "links": [{"source": "a.value", "sink": "wait.value"}]}
GATED = {"id": "gated",
         "nodes": [{"id": "a", "block": "constant", "inputs": {"value": "v"}},
                   {"id": "gate", "block": "approval", "inputs": {"message": "ship it?"}},
                   {"id": "after", "block": "template", "inputs": {"template": "got {value}"}}],
         "links": [{"source": "a.value", "sink": "gate.data"},
                   {"source": "gate.data", "sink": "after.value"}]}


@pytest.fixture(params=["stub", pytest.param("redis", marks=pytest.mark.redis)])
def settings_for(request: pytest.FixtureRequest, db_url: str) -> Settings:
    """Fast heartbeats and short leases, on the test's database and the chosen broker."""
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    return Settings(database_url=db_url, redis_url=redis_url,  # type: ignore[call-arg]
                    heartbeat_interval_s=0.2, lease_ttl_s=2.0, shutdown_grace_s=5.0,
                    liveness_key_ttl_s=5.0, _env_file=None)


@pytest.fixture
def app(settings_for: Settings) -> Iterator[FleetApp]:
    fleet_app = build(settings_for, name="actors-test", stub=settings_for.redis_url is None)
    actors.declare(fleet_app)
    yield fleet_app
    fleet_app.heartbeat.stop()
    fleet_app.broker.close()
    fleet_app.runtime.close()


@pytest.fixture
def worker(app: FleetApp) -> Iterator[Callable[[], Worker]]:
    started: list[Worker] = []

    def start() -> Worker:
        w = Worker(app.broker, worker_threads=2, worker_timeout=100)
        w.start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop(timeout=10_000)


def _submit(app: FleetApp, session: Session, definition: dict[str, Any],
            inputs: dict[str, Any] | None = None) -> Run:
    now = app.runtime.clock()
    add_graph(session, definition, "alice", now, REG, settings=app.settings)
    return submit(session, graph_id=definition["id"], version=None, inputs=inputs or {},
                  user_id="alice", now=now, send=app.runtime.send_or_raise, registry=REG,
                  settings=app.settings)


def _state(session: Session, run_id: str) -> Run:
    row = store.get(session, run_id, fresh=True)
    session.rollback()
    assert row is not None
    return row


def _until(session: Session, run_id: str, states: set[str], timeout: float = 20.0) -> Run:
    deadline = time.monotonic() + timeout
    while True:
        row = _state(session, run_id)
        if row.state in states or time.monotonic() > deadline:
            assert row.state in states, f"run {run_id} is {row.state}, wanted {states}"
            return row
        time.sleep(0.05)


def test_submit_executes_once_despite_a_duplicate_message(
        app: FleetApp, worker: Callable[[], Worker], session: Session) -> None:
    run = _submit(app, session, HELLO, {"who": "Ada"})
    app.runtime.send_or_raise(run.id)  # at-least-once delivery: the same message twice
    w = worker()
    app.broker.join(app.settings.queue_name, timeout=20_000)
    w.join()
    done = _state(session, run.id)
    assert (done.state, done.outputs, done.attempt_count) == (
        "completed", {"text": "Hello, Ada!"}, 1)
    assert len(node_runs.for_run(session, run.id)) == 1
    rt = runtime_store.get(session, app.runtime.runtime_id)
    assert rt is not None and rt.status == "online" and rt.concurrency == 2


def test_a_failed_attempt_is_reaped_and_retried(
        app: FleetApp, worker: Callable[[], Worker], session: Session) -> None:
    attempts: list[int] = []

    def crash_first(open_session: Any, lease: Any, **kw: Any) -> Any:
        attempts.append(lease.attempt)
        if lease.attempt == 1:
            raise RuntimeError("the executor crashed")  # the lease is left to expire
        return execute(open_session, lease, **kw)

    app.runtime.executor = crash_first
    run = _submit(app, session, HELLO, {"who": "Bob"})
    worker()
    done = _until(session, run.id, {"completed"}, timeout=30)
    assert attempts == [1, 2] and done.attempt_count == 2
    kinds = [(e.from_state, e.to_state) for e in store.events(session, run.id)
             if e.kind == "transition"]
    assert ("running", "queued") in kinds  # the reaper took it back


def test_cancel_stops_a_running_run(app: FleetApp, worker: Callable[[], Worker],
                                    session: Session) -> None:
    run = _submit(app, session, SLOW)
    worker()
    _until(session, run.id, {"running"})
    time.sleep(0.3)  # inside the delay node
    control.cancel(session, run.id, now=app.runtime.clock(), user_id="alice")
    done = _until(session, run.id, {"cancelled"}, timeout=10)
    assert done.completed_at is not None and done.lease_id is None


def test_approve_resumes_from_the_checkpoint(app: FleetApp, worker: Callable[[], Worker],
                                            session: Session) -> None:
    run = _submit(app, session, GATED)
    worker()
    waiting = _until(session, run.id, {"waiting_approval"})
    assert waiting.lease_id is None
    control.approve(session, run.id, now=app.runtime.clock(), send=app.runtime.send_or_raise,
                    user_id="alice")
    done = _until(session, run.id, {"completed"})
    assert done.outputs == {"after.text": "got v"}
    executed = [n.node_id for n in node_runs.for_run(session, run.id)]
    assert sorted(executed) == ["a", "after", "gate"]  # nothing ran twice
    assert done.attempt_count == 1  # resuming spends no attempt


def test_graceful_shutdown_releases_without_spending_an_attempt(
        app: FleetApp, worker: Callable[[], Worker], session: Session) -> None:
    run = _submit(app, session, SLOW)
    w = worker()
    _until(session, run.id, {"running"})
    w.stop(timeout=10_000)
    back = _state(session, run.id)
    assert (back.state, back.attempt_count, back.lease_id) == ("queued", 0, None)
    transitions = [(e.from_state, e.to_state, e.detail) for e in store.events(session, run.id)]
    assert transitions[-1][:2] == ("running", "queued") and "shutdown" in (transitions[-1][2]
                                                                           or "")
    rt = runtime_store.get(session, app.runtime.runtime_id)
    assert rt is not None and rt.status == "offline"


def test_at_shutdown_the_heartbeat_stops_before_the_runtime_goes_offline(
        app: FleetApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dramatiq runs ``after_*`` hooks in reverse: a heartbeat tick still in flight after
    the runtime was marked offline would mark it online again (seen under load)."""
    from fleet.worker import registration

    calls: list[str] = []
    monkeypatch.setattr(app.heartbeat, "stop", lambda *a, **k: calls.append("heartbeat"))
    monkeypatch.setattr(registration, "mark_offline", lambda rt: calls.append("offline"))
    app.broker.emit_after("worker_shutdown", object())
    assert calls == ["heartbeat", "offline"]
