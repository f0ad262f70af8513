"""Runtime GC and retention on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from fleet.ports import JobContext
from fleet.store import runs as run_store
from fleet.store import runtimes as rt_store
from fleet.store.models import NodeRun, RunEvent, ScheduleFire
from fleet.sweeps import retention, runtime_gc
from tests.helpers import make_run
from tests.integration.sweeps.conftest import make_runtime


def test_runtime_gc_boundary_and_batches(session: Session, now: datetime,
                                         ctx: JobContext) -> None:
    week = timedelta(days=7)
    for i in range(5):
        make_runtime(session, f"old{i}", now - week * 2, status="offline",
                     offline_at=now - week - timedelta(seconds=1 + i))
    make_runtime(session, "exact", now - week * 2, status="offline", offline_at=now - week)
    make_runtime(session, "online-old", now - week * 3)
    run_id = make_run(session, now, state="completed", runtime_id="old0", completed_at=now).id
    ctx.settings = ctx.settings.model_copy(update={"runtime_gc_batch": 2})
    report = runtime_gc.run_once(session, now, ctx)
    assert report.deleted == 5 and report.batches == 3 and not report.more
    left = {r.id for r in rt_store.list_runtimes(session)}
    assert left == {"exact", "online-old"}
    row = run_store.get(session, run_id, fresh=True)
    assert row is not None and row.runtime_id == "old0"  # history keeps its rows


def _count(session: Session, model: type) -> int:
    return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def _finished(session: Session, completed: datetime, state: str = "completed") -> str:
    run = make_run(session, completed, state=state, completed_at=completed)
    session.add(NodeRun(run_id=run.id, node_id="n", block_id="b", exec_key="k", state="completed",
                        completed_at=completed))
    session.add(RunEvent(run_id=run.id, at=completed, kind="transition", to_state=state))
    session.commit()
    return run.id


def test_retention(session: Session, now: datetime, ctx: JobContext) -> None:
    month = timedelta(days=30)
    old = [_finished(session, now - month - timedelta(seconds=1 + i)) for i in range(5)]
    old_failed = _finished(session, now - month * 2, state="failed")
    exact = _finished(session, now - month)
    recent = _finished(session, now - timedelta(days=1))
    active = make_run(session, now - month * 3, state="queued").id
    ctx.settings = ctx.settings.model_copy(update={"retention_batch": 4})
    report = retention.run_once(session, now, ctx)
    assert (report.runs, report.node_runs, report.events) == (6, 6, 6) and not report.more
    for run_id in [*old, old_failed]:
        assert run_store.get(session, run_id, fresh=True) is None
    for run_id in (exact, recent, active):
        assert run_store.get(session, run_id, fresh=True) is not None
    assert _count(session, NodeRun) == 2 and _count(session, RunEvent) == 2
    session.commit()
    assert retention.run_once(session, now, ctx).runs == 0


def test_retention_clears_a_backlog_beyond_any_batch_cap(session: Session, now: datetime,
                                                         ctx: JobContext) -> None:
    # 25 batches of work with the old cap of 20 batches per tick: all of it goes in one pass.
    for i in range(50):
        _finished(session, now - timedelta(days=40, seconds=i))
    ctx.settings = ctx.settings.model_copy(update={"retention_batch": 2,
                                                   "sweep_max_batches": 20})
    report = retention.run_once(session, now, ctx)
    assert report.runs == 50 and not report.more
    assert _count(session, NodeRun) == 0 and _count(session, RunEvent) == 0


def test_retention_stops_at_its_time_budget_and_carries_on(session: Session, now: datetime,
                                                           ctx: JobContext) -> None:
    for i in range(10):
        _finished(session, now - timedelta(days=40, seconds=i))
    ticks = iter(range(1000))
    ctx.settings = ctx.settings.model_copy(update={"retention_batch": 2,
                                                   "retention_budget_s": 3})
    first = retention.run_once(session, now, ctx, clock=lambda: float(next(ticks)))
    assert first.more and 0 < first.runs < 10  # the budget ran out with work left
    second = retention.run_once(session, now, ctx)
    assert first.runs + second.runs == 10 and not second.more


def test_retention_prunes_events_and_schedule_fires_by_their_own_horizons(
        session: Session, now: datetime, ctx: JobContext) -> None:
    live = make_run(session, now - timedelta(days=90), state="waiting_approval")
    session.add_all([RunEvent(run_id=live.id, at=now - timedelta(days=11), kind="note"),
                     RunEvent(run_id=live.id, at=now - timedelta(days=1), kind="note")])
    session.add_all([ScheduleFire(schedule_id="s", scheduled_for=now - timedelta(days=d),
                                  outcome="missed", at=now - timedelta(days=d))
                     for d in (3, 8, 9)])
    session.commit()
    ctx.settings = ctx.settings.model_copy(update={"event_retention_days": 10,
                                                   "fire_retention_days": 7})
    report = retention.run_once(session, now, ctx)
    assert (report.events, report.fires, report.runs) == (1, 2, 0)
    assert _count(session, RunEvent) == 1 and _count(session, ScheduleFire) == 1
    assert run_store.get(session, live.id, fresh=True) is not None  # the run itself stays
