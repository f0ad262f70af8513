"""Stale runtimes on SQLite and PostgreSQL: liveness alive, dead, raising; the race."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.errors import RUN_RUNTIME_GONE
from fleet.ports import JobContext
from fleet.store import runs as run_store
from fleet.store import runtimes as rt_store
from fleet.store.db import is_sqlite
from fleet.sweeps import stale_runtimes
from fleet.testing import InMemoryLiveness, RecordingSender
from tests.helpers import make_run
from tests.integration.sweeps.conftest import make_runtime

STALE = 150


def _status(session: Session, runtime_id: str) -> str:
    rt = rt_store.get(session, runtime_id)
    assert rt is not None
    session.refresh(rt)
    return rt.status


def _held_run(session: Session, now: datetime, runtime_id: str, attempts: int = 1) -> str:
    return make_run(session, now, state="running", runtime_id=runtime_id, attempt_count=attempts,
                    max_attempts=3, lease_id=f"lease-{runtime_id}-{attempts}",
                    lease_until=now + timedelta(seconds=60), started_at=now).id


def test_threshold_boundary(session: Session, now: datetime, ctx: JobContext) -> None:
    make_runtime(session, "exact", now - timedelta(seconds=STALE))
    make_runtime(session, "over", now - timedelta(seconds=STALE, microseconds=1))
    make_runtime(session, "fresh", now)
    report = stale_runtimes.run_once(session, now, ctx)
    assert report.offline == ["over"]
    assert [_status(session, r) for r in ("exact", "over", "fresh")] == [
        "online", "offline", "online"]
    rt = rt_store.get(session, "over")
    assert rt is not None and rt.offline_at == now


def test_liveness_alive_keeps_runtime_online(session: Session, now: datetime,
                                             ctx: JobContext,
                                             liveness: InMemoryLiveness) -> None:
    make_runtime(session, "rt-alive", now - timedelta(minutes=10))
    run_id = _held_run(session, now, "rt-alive")
    liveness.beat("rt-alive", 90)
    report = stale_runtimes.run_once(session, now, ctx)
    assert report.offline == [] and report.kept_alive == ["rt-alive"]
    assert _status(session, "rt-alive") == "online"
    assert run_store.get(session, run_id, fresh=True).state == "running"  # type: ignore[union-attr]


def test_liveness_dead_marks_offline_and_releases_runs(session: Session, now: datetime,
                                                       ctx: JobContext) -> None:
    make_runtime(session, "rt-dead", now - timedelta(minutes=10))
    retry = _held_run(session, now, "rt-dead", attempts=1)
    spent = _held_run(session, now, "rt-dead", attempts=3)
    other = _held_run(session, now, "rt-other")
    report = stale_runtimes.run_once(session, now, ctx)
    assert report.offline == ["rt-dead"]
    assert report.requeued == [retry] and report.failed == [spent]
    assert isinstance(ctx.send_run, RecordingSender) and ctx.send_run.sent == [retry]
    row = run_store.get(session, retry, fresh=True)
    assert row is not None and (row.state, row.lease_id, row.last_sent_at) == (
        "queued", None, now)
    row = run_store.get(session, spent, fresh=True)
    assert row is not None and (row.state, row.error_code) == ("failed", RUN_RUNTIME_GONE)
    assert run_store.get(session, other, fresh=True).state == "running"  # type: ignore[union-attr]
    events = run_store.events(session, retry, kind="transition")
    assert [(e.from_state, e.to_state) for e in events] == [("running", "queued")]
    assert events[0].detail and "runtime went offline" in events[0].detail


def test_liveness_error_trusts_database(session: Session, now: datetime, ctx: JobContext,
                                        liveness: InMemoryLiveness) -> None:
    make_runtime(session, "rt-1", now - timedelta(minutes=10))
    liveness.beat("rt-1", 90)  # alive, but the store cannot be read this tick
    liveness.fail = True
    report = stale_runtimes.run_once(session, now, ctx)
    assert report.offline == ["rt-1"] and report.liveness_error
    assert "ConnectionError" in report.liveness_error


def test_no_liveness_port_trusts_database(session: Session, now: datetime,
                                          ctx: JobContext) -> None:
    make_runtime(session, "rt-1", now - timedelta(minutes=10))
    ctx.liveness = None
    assert stale_runtimes.run_once(session, now, ctx).offline == ["rt-1"]


def test_heartbeat_between_select_and_update_keeps_runtime(session: Session, now: datetime,
                                                           ctx: JobContext) -> None:
    make_runtime(session, "rt-1", now - timedelta(minutes=10))
    run_id = _held_run(session, now, "rt-1")
    original = rt_store.stale
    sqlite = is_sqlite(session.get_bind().engine)

    def select_then_flush(s: Session, before: datetime, limit: int) -> list:  # type: ignore[type-arg]
        rows = original(s, before, limit)
        if sqlite:
            # The sweep holds SQLite's write lock; the flush lands in between in-transaction.
            rt_store.touch(s, "rt-1", now)
        else:
            with Session(session.get_bind()) as other:
                rt_store.touch(other, "rt-1", now)
                other.commit()
        return rows

    rt_store.stale = select_then_flush  # type: ignore[assignment]
    try:
        report = stale_runtimes.run_once(session, now, ctx)
    finally:
        rt_store.stale = original  # type: ignore[assignment]
    assert report.offline == [] and report.requeued == []
    assert _status(session, "rt-1") == "online"
    assert run_store.get(session, run_id, fresh=True).state == "running"  # type: ignore[union-attr]


def test_send_failure_leaves_run_for_resend(session: Session, now: datetime,
                                            ctx: JobContext) -> None:
    make_runtime(session, "rt-1", now - timedelta(minutes=10))
    run_id = _held_run(session, now, "rt-1")
    ctx.send_run = RecordingSender(fail=True)
    report = stale_runtimes.run_once(session, now, ctx)
    assert report.requeued == [run_id] and report.sent == []
    row = run_store.get(session, run_id, fresh=True)
    assert row is not None and row.state == "queued" and row.last_sent_at is None


def test_idempotent(session: Session, now: datetime, ctx: JobContext) -> None:
    make_runtime(session, "rt-1", now - timedelta(minutes=10))
    _held_run(session, now, "rt-1")
    first = stale_runtimes.run_once(session, now, ctx)
    second = stale_runtimes.run_once(session, now, ctx)
    assert len(first.requeued) == 1 and second.offline == [] and second.requeued == []
