"""The lease reaper on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.errors import RUN_LEASE_EXPIRED
from fleet.runs import leases, reaper
from fleet.store import runs as store
from fleet.store.db import is_sqlite
from tests.helpers import make_run


def _running(session: Session, now: datetime, *, attempts: int = 1, max_attempts: int = 3,
             lease_s: float = 60) -> str:
    run = make_run(session, now, state="running", attempt_count=attempts,
                   max_attempts=max_attempts, lease_id=f"L-{attempts}-{lease_s}",
                   lease_until=now + timedelta(seconds=lease_s), runtime_id="rt-dead",
                   started_at=now)
    return run.id


def test_decide_boundaries(now: datetime) -> None:
    row = store.LeaseRow("r", 1, 3, now, "rt")
    assert reaper.decide(row, now) is reaper.Decision.KEEP  # exactly at expiry: still held
    assert reaper.decide(row, now + timedelta(microseconds=1)) is reaper.Decision.REQUEUE
    assert reaper.decide(store.LeaseRow("r", 3, 3, now, "rt"), now + timedelta(seconds=1)) \
        is reaper.Decision.FAIL


def test_requeue_while_attempts_remain(session: Session, now: datetime) -> None:
    run_id = _running(session, now, attempts=1)
    report = reaper.run_once(session, now + timedelta(seconds=61))
    assert report.requeued == [run_id] and report.failed == []
    row = store.get(session, run_id, fresh=True)
    assert row is not None
    assert (row.state, row.lease_id, row.attempt_count) == ("queued", None, 1)
    assert row.queued_at == now + timedelta(seconds=61)


def test_fail_when_attempts_spent(session: Session, now: datetime) -> None:
    run_id = _running(session, now, attempts=3, max_attempts=3)
    report = reaper.run_once(session, now + timedelta(seconds=61))
    assert report.failed == [run_id]
    row = store.get(session, run_id, fresh=True)
    assert row is not None and row.state == "failed" and row.error_code == RUN_LEASE_EXPIRED
    assert row.completed_at is not None and row.lease_id is None


def test_live_leases_untouched(session: Session, now: datetime) -> None:
    run_id = _running(session, now, lease_s=120)
    report = reaper.run_once(session, now + timedelta(seconds=61))
    assert report.requeued == [] and report.failed == [] and report.examined == 0
    assert store.get(session, run_id, fresh=True).state == "running"  # type: ignore[union-attr]


def test_waiting_states_never_reaped(session: Session, now: datetime) -> None:
    ids = [make_run(session, now, state=s, lease_until=now - timedelta(hours=1)).id
           for s in ("waiting_tool", "waiting_approval")]
    report = reaper.run_once(session, now + timedelta(days=1))
    assert report.examined == 0
    assert [store.get(session, i, fresh=True).state for i in ids] == [  # type: ignore[union-attr]
        "waiting_tool", "waiting_approval"]


def test_batch_limit(session: Session, now: datetime) -> None:
    for _ in range(7):
        _running(session, now)
    report = reaper.run_once(session, now + timedelta(seconds=61), batch_size=3, max_batches=2)
    assert len(report.requeued) == 6 and report.more
    report = reaper.run_once(session, now + timedelta(seconds=61), batch_size=3, max_batches=2)
    assert len(report.requeued) == 1 and not report.more


def test_heartbeat_between_select_and_update_wins(session: Session, now: datetime) -> None:
    """The expiry condition is repeated inside the UPDATE."""
    run = make_run(session, now)
    lease = leases.claim(session, run.id, now, "rt-1", ttl_s=60)
    assert lease
    later = now + timedelta(seconds=61)
    original = store.expired_leases

    sqlite = is_sqlite(session.get_bind().engine)

    def select_then_heartbeat(s: Session, n: datetime, limit: int) -> list[store.LeaseRow]:
        rows = original(s, n, limit)
        until = later + timedelta(seconds=60)
        if sqlite:
            # SQLite: the reaper holds the write lock, so a heartbeat from another
            # process waits; the closest case is its UPDATE landing in between.
            store.extend_leases(s, "rt-1", [lease.lease_id], later, until)
        else:
            # PostgreSQL: a heartbeat commits on another connection in between.
            with Session(session.get_bind()) as other:
                leases.heartbeat(other, "rt-1", [lease.lease_id], later, ttl_s=60)
        return rows

    store.expired_leases = select_then_heartbeat  # type: ignore[assignment]
    try:
        report = reaper.run_once(session, later)
    finally:
        store.expired_leases = original  # type: ignore[assignment]
    assert report.examined == 1 and report.requeued == []
    row = store.get(session, run.id, fresh=True)
    assert row is not None and row.state == "running" and row.lease_id == lease.lease_id


def test_reaped_run_records_event(session: Session, now: datetime) -> None:
    run_id = _running(session, now)
    reaper.run_once(session, now + timedelta(seconds=61))
    ev = store.events(session, run_id, kind="transition")
    assert [(e.from_state, e.to_state) for e in ev] == [("running", "queued")]
    assert ev[0].detail and "lease expired" in ev[0].detail
