"""Attempts count failures, never resumes; a run's timeout counts its running time across
segments (claims), never the time it waited."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session

from fleet.engine.blocks.registry import BlockRegistry
from fleet.runs import leases, reaper, resume
from fleet.runs.execute import StopSignal, execute
from fleet.runs.inline import run_inline
from fleet.settings import Settings
from fleet.store import runs as store
from tests.integration.runs.conftest import SimulatedCrash

Opener = Callable[[], Session]


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, lease_ttl_s=60, _env_file=None)  # type: ignore[call-arg]


def _gates(n: int, max_attempts: int = 3) -> dict[str, Any]:
    """a -> g1 -> ... -> gn (approvals) -> z (counts): a run that waits n times."""
    nodes: list[dict[str, Any]] = [{"id": "a", "block": "count", "inputs": {"value": 1}}]
    nodes += [{"id": f"g{i}", "block": "approval"} for i in range(1, n + 1)]
    nodes += [{"id": "z", "block": "count"}]
    order = ["a", *[f"g{i}" for i in range(1, n + 1)], "z"]
    links = [{"source": f"{x}.{'value' if x in ('a', 'z') else 'data'}",
              "sink": f"{y}.{'value' if y in ('a', 'z') else 'data'}"}
             for x, y in itertools.pairwise(order)]
    return {"id": f"gates{n}", "nodes": nodes, "links": links, "max_attempts": max_attempts}


def test_five_resumes_spend_no_attempt_and_two_crashes_are_survived(
        open_session: Opener, session: Session, submit: Any, registry: BlockRegistry,
        settings: Settings, probe: Any) -> None:
    run = submit(_gates(5, max_attempts=3))
    now = run.created_at
    for _ in range(5):
        out = run_inline(open_session, run.id, registry=registry, settings=settings,
                         clock=lambda: now)
        assert out.state == "waiting_approval", out
        resume.approve(session, run.id, now=now, user_id="alice")
    row = store.get(session, run.id, fresh=True)
    assert row is not None and row.attempt_count == 0  # five executions, none failed
    session.commit()
    # Two crashes (the worker dies mid-node, its lease expires, the reaper requeues).
    probe.crash_on["z"] = 1
    for crash in range(2):
        with open_session() as s:
            lease = leases.claim(s, run.id, now, f"rt-{crash}", ttl_s=60)
        assert lease is not None
        if crash == 0:
            with pytest.raises(SimulatedCrash):
                execute(open_session, lease, registry=registry, settings=settings)
        now = now + timedelta(minutes=2)
        with open_session() as s:
            assert reaper.run_once(s, now).requeued == [run.id]
    out = run_inline(open_session, run.id, registry=registry, settings=settings,
                     clock=lambda: now)
    assert out.state == "completed", out
    row = store.get(session, run.id, fresh=True)
    assert row is not None and row.attempt_count == 3 and row.error_code is None


def test_the_timeout_counts_running_time_across_segments(
        open_session: Opener, session: Session, submit: Any, registry: BlockRegistry,
        settings: Settings) -> None:
    run = submit({"id": "slowish", "timeout_s": 1.5,
                  "nodes": [{"id": "a", "block": "count", "inputs": {"value": 1}},
                            {"id": "w", "block": "delay", "inputs": {"seconds": 1.2}},
                            {"id": "b", "block": "count"}],
                  "links": [{"source": "a.value", "sink": "w.value"},
                            {"source": "w.value", "sink": "b.value"}]})
    # Segment 1: a graceful shutdown stops it after about a second, and releases it.
    with open_session() as s:
        lease = leases.claim(s, run.id, run.created_at, "rt-1", ttl_s=60)
    assert lease is not None
    stop = StopSignal()
    threading.Timer(1.0, stop.request, args=("shutdown",)).start()
    out = execute(open_session, lease, registry=registry, settings=settings, stop=stop)
    assert out.state is None and out.reason == "shutdown" and out.elapsed_s >= 0.9
    with open_session() as s:
        assert leases.release(s, {run.id: lease.lease_id}, run.created_at,
                              ran_s={run.id: out.elapsed_s}) == [run.id]
    row = store.get(session, run.id, fresh=True)
    assert row is not None and 0.9 <= row.run_time_s < 1.5 and row.attempt_count == 0
    session.commit()
    # Segment 2: the delay starts again (it never finished), and the run has only about
    # half a second left of its 1.5 s: it times out, where a per-segment clock would not.
    out = run_inline(open_session, run.id, registry=registry, settings=settings)
    assert out.state == "timeout", out
    row = store.get(session, run.id, fresh=True)
    assert row is not None and row.error_code == "E-RUN-004" and row.run_time_s >= 1.5
