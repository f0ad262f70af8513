"""The exit codes of docs/cli.md: 0 completed, 1 failed/timed out/cancelled, 2 usage or input,
3 a wait that ended first (saying why); with --wait the outputs or the error are printed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from sqlmodel import Session

from fleet.store import runtimes
from fleet.store.models import Runtime
from tests.helpers import make_run
from tests.integration.cli.conftest import Fleet, InlineWorker


def test_wait_prints_the_outputs_of_a_completed_run(fleet: Fleet, worker: InlineWorker,
                                                    add_example: Callable[..., str]) -> None:
    add_example("hello.yaml", user="local")
    out = fleet("runs", "submit", "hello", "--input", "who=Ada", "--wait", "--timeout", "30")
    assert out.code == 0, out.output
    assert "completed" in out.flat and "greeting: Hello, Ada!" in out.flat
    as_json = fleet("runs", "submit", "hello", "--wait", "--timeout", "30", "--json")
    assert as_json.code == 0
    data = as_json.json()
    assert data["state"] == "completed" and data["outputs"] == {"greeting": "Hello, world!"}
    assert data["exit_code"] == 0 and data["hint"] is None


def test_wait_prints_the_error_of_a_failed_run_and_exits_1(
        fleet: Fleet, worker: InlineWorker, add_example: Callable[..., str]) -> None:
    add_example("flaky.yaml", user="local")
    out = fleet("runs", "submit", "flaky", "--input", "fail=true", "--wait", "--timeout", "30")
    assert out.code == 1, out.output
    assert "failed" in out.flat and "E-NODE-001" in out.flat
    assert "failed on purpose" in out.flat


def test_a_wait_that_runs_out_says_why_and_exits_3(fleet: Fleet, session: Session,
                                                   now: datetime,
                                                   add_example: Callable[..., str]) -> None:
    add_example("hello.yaml", user="local")
    make_run(session, now, user_id="someone", graph_id="hello")  # queued ahead of ours
    out = fleet("runs", "submit", "hello", "--wait", "--timeout", "0.3")
    assert out.code == 3, out.output
    assert "is queued" in out.flat and "no worker is online" in out.flat
    assert "1 queued run(s) are ahead of it" in out.flat
    assert "the scheduler is silent" in out.flat  # no system job has ever run here
    runtimes.add(session, Runtime(id="rt-1", hostname="h", pid=1, registered_at=now,
                                  last_seen_at=now, queues=["fleet"], concurrency=8))
    session.commit()
    data = fleet("runs", "submit", "hello", "--wait", "--timeout", "0.3", "--json")
    assert data.code == 3
    hint = data.json()["hint"]
    assert "no worker is online" not in hint and "2 queued run(s) are ahead of it" in hint
    assert data.json()["exit_code"] == 3
    why = fleet("runs", "why", data.json()["id"][:8], "--json")
    assert why.code == 0 and why.json()["facts"]["queued_ahead"] == 2
    assert [c["code"] for c in why.json()["causes"]][:1] == ["backlog"]


def test_a_run_waiting_for_approval_ends_the_wait_with_3_and_the_way_on(
        fleet: Fleet, worker: InlineWorker, add_example: Callable[..., str]) -> None:
    add_example("approval.yaml", user="local")
    out = fleet("runs", "submit", "approval-demo", "--wait", "--timeout", "30", "-q")
    assert out.code == 3, out.output
    run_id = out.stdout.strip()
    assert len(run_id) == 32  # --quiet: the id only
    hint = fleet("runs", "watch", run_id, "--timeout", "0", "--json").json()["hint"]
    assert "waiting for approval" in hint and f"`fleet runs approve {run_id}`" in hint
    assert fleet("runs", "approve", run_id[:8]).code == 0
    done = fleet("runs", "watch", run_id[:8], "--timeout", "30")
    assert done.code == 0 and "published: Release notes for v1.2" in done.flat


@pytest.mark.parametrize(("state", "code"), [("completed", 0), ("failed", 1), ("timeout", 1),
                                             ("cancelled", 1), ("running", 3), ("queued", 3)])
def test_watch_exits_with_the_code_of_the_outcome(fleet: Fleet, session: Session, now: datetime,
                                                   state: str, code: int) -> None:
    run = make_run(session, now, user_id="local", state=state)
    out = fleet("runs", "watch", run.id, "--timeout", "0.2", "--interval", "0.05")
    assert out.code == code, out.output
    assert state in out.flat
    if code == 3:
        assert "waited out" in out.flat


def test_cancel_of_a_running_run_says_cancel_requested(fleet: Fleet, session: Session,
                                                       now: datetime) -> None:
    running = make_run(session, now, user_id="local", state="running", lease_id="l",
                       runtime_id="rt", attempt_count=1)
    out = fleet("runs", "cancel", running.id)
    assert out.code == 0 and "cancel requested" in out.flat
    queued = make_run(session, now, user_id="local")
    out = fleet("runs", "cancel", queued.id)
    assert out.code == 0 and "cancelled" in out.flat and "requested" not in out.flat


def test_usage_and_input_errors_exit_2(fleet: Fleet, add_example: Callable[..., str]) -> None:
    add_example("hello.yaml", user="local")
    assert fleet("runs", "submit").code == 2  # missing argument
    assert fleet("runs", "submit", "hello", "--bogus").code == 2
    bad = fleet("runs", "submit", "hello", "--input", "who=1")
    assert bad.code == 2 and "who" in bad.output
    assert fleet("runs", "show", "0123456789abcdef").code == 2
