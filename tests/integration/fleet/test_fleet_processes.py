"""The fleet with real Redis, real PostgreSQL and real ``dramatiq`` worker processes."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from fleet.clock import utcnow
from fleet.engine.blocks.registry import default_registry
from fleet.ports import RunSender
from fleet.runs.submit import submit
from fleet.settings import Settings
from fleet.store import runs as store
from fleet.store.models import NodeRun, Run, RunEvent
from tests.integration.fleet.procs import (
    CHAIN,
    Workers,
    add_graph,
    online_runtimes,
    run_row,
    slow_chain,
    states,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def _submit(engine: Engine, settings: Settings, graph_id: str, send: RunSender,
            n: int = 1) -> list[str]:
    registry = default_registry()
    with Session(engine, expire_on_commit=False) as s:
        return [submit(s, graph_id=graph_id, version=None, inputs={}, user_id="alice",
                       now=utcnow(), send=send, registry=registry, settings=settings).id
                for _ in range(n)]


def _claims(engine: Engine, run_id: str) -> int:
    with Session(engine) as s:
        stmt = select(func.count()).select_from(RunEvent).where(
            col(RunEvent.run_id) == run_id, col(RunEvent.to_state) == "running")
        return int(s.execute(stmt).scalar_one())


def _node_runs(engine: Engine, run_id: str) -> dict[str, list[int]]:
    with Session(engine) as s:
        rows = s.execute(select(NodeRun).where(col(NodeRun.run_id) == run_id)).scalars().all()
    out: dict[str, list[int]] = {}
    for r in rows:
        out.setdefault(r.node_id, []).append(r.attempt)
    return out


def _start(workers: Callable[..., Workers], engine: Engine, n: int, threads: int = 4,
           env: dict[str, str] | None = None) -> Workers:
    w = workers(env)
    for _ in range(n):
        w.start(threads)
    wait_for(lambda: len(online_runtimes(engine)) >= n, 60, f"{n} runtimes online", w.logs)
    return w


def test_200_runs_on_two_workers_each_attempt_once(
        workers: Callable[..., Workers], pg_engine: Engine, fleet_settings: Settings,
        sender: RunSender) -> None:
    with Session(pg_engine) as s:
        add_graph(s, CHAIN, utcnow())
    w = _start(workers, pg_engine, 2, threads=8)
    ids = _submit(pg_engine, fleet_settings, "chain", sender, 200)
    wait_for(lambda: states(pg_engine).get("completed") == 200, 120,
             "200 completed runs", w.logs, interval=0.5)
    with Session(pg_engine) as s:
        rows = s.execute(select(Run)).scalars().all()
        assert {r.attempt_count for r in rows} == {1}
        runtimes = {r.runtime_id for r in rows}
        claims = s.execute(
            select(RunEvent.run_id, func.count()).where(col(RunEvent.to_state) == "running")
            .group_by(col(RunEvent.run_id))).all()
        nodes = s.execute(select(func.count()).select_from(NodeRun)).scalar_one()
    assert len(runtimes) == 2, "both worker processes took runs"
    assert sorted(r[0] for r in claims) == sorted(ids) and {r[1] for r in claims} == {1}
    assert nodes == 200 * 3


def test_duplicate_delivery_executes_once(
        workers: Callable[..., Workers], pg_engine: Engine, fleet_settings: Settings,
        sender: RunSender) -> None:
    with Session(pg_engine) as s:
        add_graph(s, slow_chain(1.0), utcnow())
    w = _start(workers, pg_engine, 2)
    [run_id] = _submit(pg_engine, fleet_settings, "slow", sender)
    for _ in range(4):
        sender(run_id)  # the same message, delivered again while it runs
    wait_for(lambda: run_row(pg_engine, run_id).state == "completed", 60, "completion",
             w.logs)
    for _ in range(2):
        sender(run_id)  # and again after it finished
    wait_for(lambda: "not claimable" in w.logs(), 20, "the duplicates to be dropped", w.logs)
    assert _claims(pg_engine, run_id) == 1
    assert run_row(pg_engine, run_id).attempt_count == 1
    assert {k: len(v) for k, v in _node_runs(pg_engine, run_id).items()} == {
        "a": 1, "b": 1, "c": 1, "d": 1}


def test_kill_9_mid_run_completes_elsewhere_without_redoing_nodes(
        workers: Callable[..., Workers], pg_engine: Engine, fleet_settings: Settings,
        sender: RunSender) -> None:
    with Session(pg_engine) as s:
        add_graph(s, slow_chain(5.0), utcnow())
    w = _start(workers, pg_engine, 2)
    [run_id] = _submit(pg_engine, fleet_settings, "slow", sender)
    wait_for(lambda: "b" in _node_runs(pg_engine, run_id), 30, "nodes a and b to finish",
             w.logs)
    row = run_row(pg_engine, run_id)
    assert row.state == "running"
    holder = next(r for r in online_runtimes(pg_engine) if r.id == row.runtime_id)
    os.kill(holder.pid, signal.SIGKILL)
    done = wait_for(lambda: (r := run_row(pg_engine, run_id)).state == "completed" and r, 60,
                    "the run to complete on the other worker", w.logs)
    assert done.attempt_count == 2 and done.runtime_id != holder.id
    nodes = _node_runs(pg_engine, run_id)
    assert nodes == {"a": [1], "b": [1], "c": [2], "d": [2]}, nodes


def test_sigterm_mid_run_requeues_without_spending_the_attempt(
        workers: Callable[..., Workers], pg_engine: Engine, fleet_settings: Settings,
        sender: RunSender) -> None:
    with Session(pg_engine) as s:
        add_graph(s, slow_chain(4.0), utcnow())
    w = _start(workers, pg_engine, 1)
    [run_id] = _submit(pg_engine, fleet_settings, "slow", sender)
    wait_for(lambda: "b" in _node_runs(pg_engine, run_id), 30, "nodes a and b", w.logs)
    first = w.procs[0]
    # Like honcho or systemd: the whole process group gets SIGTERM (so the worker
    # process hears it twice: from the manager and from its dramatiq parent).
    os.killpg(first.pid, signal.SIGTERM)
    first.wait(30)
    assert "Killing worker process" not in w.logs()
    row = run_row(pg_engine, run_id)
    assert row.state == "queued" and row.attempt_count == 0, (row.state, w.logs())
    with Session(pg_engine) as s:
        rt = s.execute(select(col(Run.runtime_id)).where(col(Run.id) == run_id)).scalar_one()
        from fleet.store import runtimes

        gone = runtimes.get(s, rt) if rt else None
    assert gone is not None and gone.status == "offline", "the runtime did not go offline"
    w.start(4)  # a new worker picks up the re-sent run
    done = wait_for(lambda: (r := run_row(pg_engine, run_id)).state == "completed" and r, 60,
                    "completion after the restart", w.logs)
    assert done.attempt_count == 1
    assert sorted(_node_runs(pg_engine, run_id)) == ["a", "b", "c", "d"]


def test_redis_down_submissions_stay_queued_then_run(
        workers: Callable[..., Workers], pg_engine: Engine, fleet_settings: Settings,
        sender: RunSender, redis_server: object) -> None:
    from fleet.ports import JobContext
    from fleet.sweeps import resend

    with Session(pg_engine) as s:
        add_graph(s, CHAIN, utcnow())
    w = _start(workers, pg_engine, 1)
    redis_server.stop()  # type: ignore[attr-defined]
    try:
        ids = _submit(pg_engine, fleet_settings, "chain", sender, 5)
        with Session(pg_engine) as s:
            rows = [store.get(s, i) for i in ids]
        assert all(r is not None and r.state == "queued" and r.last_sent_at is None
                   for r in rows)
    finally:
        redis_server.start()  # type: ignore[attr-defined]
    ctx = JobContext(settings=fleet_settings, send_run=sender)
    with Session(pg_engine) as s:
        resend.SWEEP.run_once(s, utcnow() + timedelta(seconds=fleet_settings.resend_after_s + 1),
                              ctx)
    wait_for(lambda: states(pg_engine).get("completed") == 5, 60, "the 5 runs to complete",
             w.logs)
