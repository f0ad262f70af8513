"""Runtime GC and retention on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from fleet.ports import JobContext
from fleet.store import runs as run_store
from fleet.store import runtimes as rt_store
from fleet.store.models import NodeRun, RunEvent
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
