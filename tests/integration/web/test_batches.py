"""Batch operations at size: 10 000 queued runs cancelled in batches, nothing half-handled,
safe to run twice; an interrupted batch leaves every run either handled or untouched."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlmodel import Session, col

from fleet.audit.service import Actor
from fleet.engine.blocks.registry import default_registry
from fleet.graphs.service import add_graph
from fleet.runs import batch
from fleet.runs.create import NewRun, create_many
from fleet.runs.filters import RunFilter
from fleet.settings import Settings
from fleet.store.models import AuditEntry, Run, RunEvent
from fleet.testing import FixedClock, RecordingSender
from tests.integration.web.support import HELLO

N = 10_000
ACTOR = Actor("root", "admin", "api")


def _queue(session: Session, settings: Settings, now: datetime, user: str, n: int) -> None:
    graph = add_graph(session, HELLO, user, now, default_registry(), settings=settings)
    for start in range(0, n, 2000):
        create_many(session, [NewRun(user_id=user, graph=graph, inputs={}, detail="bench")
                              for _ in range(min(2000, n - start))], now)
        session.commit()


def _states(session: Session) -> dict[str, int]:
    rows = session.execute(select(col(Run.state), func.count()).group_by(col(Run.state))).all()
    session.commit()
    return {r[0]: int(r[1]) for r in rows}


def _cancel_events(session: Session) -> int:
    n = session.execute(select(func.count()).select_from(RunEvent).where(
        col(RunEvent.to_state) == "cancelled")).scalar_one()
    session.commit()
    return int(n)


def _run(session: Session, settings: Settings, clock: Callable[[], datetime], action: str,
         f: RunFilter) -> batch.BatchOperation:
    op = batch.start(session, action, f, user_id=None, actor=ACTOR, now=clock())
    return batch.execute(session, op.id, clock=clock, send=RecordingSender(),
                         registry=default_registry(), settings=settings, actor=ACTOR)


def test_cancel_ten_thousand_queued_runs_twice(session: Session, settings: Settings,
                                               now: datetime) -> None:
    _queue(session, settings, now, "alice", N)
    _queue(session, settings, now, "bob", 3)  # outside the filter: left alone
    f = RunFilter(user="alice")
    assert batch.preview(session, "cancel", f, user_id=None).value == N
    clock = FixedClock(now)
    op = _run(session, settings, clock, "cancel", f)
    assert (op.state, op.processed, op.changed, op.skipped) == ("done", N, N, 0)
    assert op.expected == N
    assert _states(session) == {"cancelled": N, "queued": 3}
    assert _cancel_events(session) == N  # each run: its state and its event, together
    again = _run(session, settings, clock, "cancel", f)
    assert (again.state, again.processed, again.changed) == ("done", 0, 0)
    assert _states(session) == {"cancelled": N, "queued": 3} and _cancel_events(session) == N
    phases = session.execute(select(AuditEntry.detail).where(
        col(AuditEntry.action) == "batch.cancel")).scalars().all()
    assert sorted(p["phase"] for p in phases) == ["done", "done", "started", "started"]


def test_an_interrupted_batch_leaves_nothing_half_handled(session: Session, settings: Settings,
                                                         now: datetime) -> None:
    _queue(session, settings, now, "alice", 1200)
    small = settings.model_copy(update={"web_batch_size": 100})
    calls = {"n": 0}

    def flaky() -> datetime:  # the database "fails" once, at the fifth batch
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("connection lost")
        return now

    op = batch.start(session, "cancel", RunFilter(), user_id=None, actor=ACTOR, now=now)
    with pytest.raises(RuntimeError):
        batch.execute(session, op.id, clock=flaky, send=RecordingSender(),
                      registry=default_registry(), settings=small, actor=ACTOR)
    failed = batch.get(session, op.id, user_id=None)
    assert (failed.state, failed.changed) == ("failed", 400)
    assert "connection lost" in (failed.error or "")
    assert _states(session) == {"cancelled": 400, "queued": 800}
    assert _cancel_events(session) == 400
    rest = _run(session, small, FixedClock(now), "cancel", RunFilter())
    assert rest.changed == 800 and _states(session) == {"cancelled": 1200}


def test_cancel_flags_running_runs_and_retry_is_safe_twice(session: Session,
                                                           settings: Settings,
                                                           now: datetime) -> None:
    _queue(session, settings, now, "alice", 6)
    ids = [r for r, in session.execute(select(Run.id)).all()]
    session.execute(Run.__table__.update().where(col(Run.id).in_(ids[:2]))
                    .values(state="running", runtime_id="rt", lease_id="l"))
    session.execute(Run.__table__.update().where(col(Run.id).in_(ids[2:4]))
                    .values(state="failed", completed_at=now, error_code="E-NODE-001"))
    session.commit()
    clock = FixedClock(now)
    op = _run(session, settings, clock, "cancel", RunFilter())
    assert op.changed == 4  # 2 queued cancelled, 2 running flagged
    flagged = session.execute(select(func.count()).select_from(Run).where(
        col(Run.state) == "running", col(Run.cancel_requested).is_(True))).scalar_one()
    assert flagged == 2
    assert _run(session, settings, clock, "cancel", RunFilter()).changed == 0
    retry = RunFilter(states=("failed",), error="E-NODE-001")
    assert batch.preview(session, "retry", retry, user_id=None).value == 2
    first = _run(session, settings, clock, "retry", retry)
    assert first.changed == 2
    retried = session.execute(select(col(Run.retry_of)).where(
        col(Run.retry_of).is_not(None))).scalars().all()
    session.commit()
    assert sorted(retried) == sorted(ids[2:4])
    assert batch.preview(session, "retry", retry, user_id=None).value == 0
    assert _run(session, settings, clock, "retry", retry).changed == 0
