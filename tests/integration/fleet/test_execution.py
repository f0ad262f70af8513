"""One execute_graph message: claim, hold, execute, unhold; duplicates dropped; shutdown release."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

import pytest
from sqlmodel import Session

from fleet.runs.execute import StopSignal
from fleet.runs.leases import Lease
from fleet.settings import Settings
from fleet.store import runs as store
from fleet.testing import ScriptedExecutor
from fleet.worker.execution import Result, execute_message
from fleet.worker.shutdown import shutdown
from tests.helpers import make_run
from tests.integration.fleet.support import make_runtime


def test_executes_a_claimed_run_once(session: Session, settings: Settings,
                                     now: datetime) -> None:
    rt, _ = make_runtime(settings, clock=lambda: now)
    run = make_run(session, now)
    seen: list[int] = []

    def body(open_session: Any, lease: Lease, stop: StopSignal) -> str:
        seen.append(len(rt.held()))  # the heartbeat sees the lease while it runs
        with open_session() as s:
            row = store.get(s, lease.run_id)
            assert row is not None and row.state == "running"
        return "done"

    executor = ScriptedExecutor(body)
    assert execute_message(rt, run.id, execute=executor) is Result.EXECUTED
    assert seen == [1] and rt.held() == []
    # The same message delivered again: the run is running (or done), not claimable.
    assert execute_message(rt, run.id, execute=executor) is Result.DROPPED
    assert len(executor.calls) == 1 and executor.calls[0].attempt == 1


def test_one_activity_line_per_run_its_start_with_log_run_starts(
        session: Session, settings: Settings, now: datetime,
        caplog: pytest.LogCaptureFixture) -> None:
    first, second = make_run(session, now), make_run(session, now)
    rt, _ = make_runtime(settings, clock=lambda: now)
    with caplog.at_level(logging.INFO, logger="fleet.activity"):
        assert execute_message(rt, first.id, execute=ScriptedExecutor()) is Result.EXECUTED
    lines = [r.getMessage() for r in caplog.records if r.name == "fleet.activity"]
    assert len(lines) == 1 and lines[0].startswith(f"run {first.id} (graph g1 version 1, "
                                                   "attempt 1): "), lines
    caplog.clear()
    rt, _ = make_runtime(settings.model_copy(update={"log_run_starts": True}),
                         clock=lambda: now)
    with caplog.at_level(logging.INFO, logger="fleet.activity"):
        assert execute_message(rt, second.id, execute=ScriptedExecutor()) is Result.EXECUTED
    lines = [r.getMessage() for r in caplog.records if r.name == "fleet.activity"]
    assert lines[0] == f"run {second.id} started: graph g1 version 1, attempt 1", lines
    assert len(lines) == 2


def test_unclaimable_and_malformed_messages_are_dropped(session: Session, settings: Settings,
                                                        now: datetime) -> None:
    rt, _ = make_runtime(settings, clock=lambda: now)
    executor = ScriptedExecutor()
    done = make_run(session, now, state="completed")
    assert execute_message(rt, done.id, execute=executor) is Result.DROPPED
    assert execute_message(rt, "no-such-run", execute=executor) is Result.DROPPED
    assert execute_message(rt, {"run": 1}, execute=executor) is Result.MALFORMED
    assert execute_message(rt, "", execute=executor) is Result.MALFORMED
    assert executor.calls == []


def test_executor_error_leaves_the_lease_to_the_reaper(session: Session, settings: Settings,
                                                       now: datetime) -> None:
    rt, _ = make_runtime(settings, clock=lambda: now)
    run = make_run(session, now)

    def boom(*_: Any) -> None:
        raise RuntimeError("engine bug")

    assert execute_message(rt, run.id, execute=ScriptedExecutor(boom)) is Result.ERROR
    row = store.get(session, run.id, fresh=True)
    assert row is not None and row.state == "running" and row.attempt_count == 1
    assert rt.held() == []


def test_shutdown_releases_in_flight_run_without_spending_the_attempt(
        session: Session, settings: Settings, now: datetime) -> None:
    rt, sender = make_runtime(settings, clock=lambda: now)
    run = make_run(session, now)
    started = threading.Event()

    def body(open_session: Any, lease: Lease, stop: StopSignal) -> str:
        started.set()
        assert stop.wait(10), "the shutdown never reached the execution"
        return "stopped"  # like the engine on shutdown: no state written

    result: list[Result] = []
    t = threading.Thread(target=lambda: result.append(
        execute_message(rt, run.id, execute=ScriptedExecutor(body))))
    t.start()
    assert started.wait(10)
    shutdown(rt)
    t.join(10)
    assert result == [Result.RELEASED]
    row = store.get(session, run.id, fresh=True)
    assert row is not None and row.state == "queued" and row.attempt_count == 0
    assert row.lease_id is None and sender.sent == [run.id]
    # A worker that is shutting down does not claim new runs.
    assert execute_message(rt, run.id, execute=ScriptedExecutor()) is Result.DROPPED


def test_shutdown_releases_stuck_executions_after_the_grace(
        session: Session, db_url: str, now: datetime) -> None:
    settings = Settings(database_url=db_url, shutdown_grace_s=0.2,  # type: ignore[call-arg]
                        _env_file=None)
    rt, sender = make_runtime(settings, clock=lambda: now)
    run = make_run(session, now)
    from fleet.runs import leases

    lease = leases.claim(session, run.id, now, rt.runtime_id)
    assert lease is not None
    stop = StopSignal()
    rt.hold(lease, stop)  # an execution that never returns
    assert shutdown(rt) == [run.id]
    assert stop.reason() == "shutdown" and sender.sent == [run.id]
    row = store.get(session, run.id, fresh=True)
    assert row is not None and row.state == "queued" and row.attempt_count == 0
