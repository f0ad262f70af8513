"""Claims, batched heartbeats, release and the reaper, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from fleet.errors import LeaseLost
from fleet.runs import leases, reaper
from fleet.store import runs as store
from fleet.store.models import RunState
from tests.helpers import make_run


def test_claim_sets_lease_fields(session: Session, now: datetime) -> None:
    run = make_run(session, now)
    lease = leases.claim(session, run.id, now, "rt-1", ttl_s=60)
    assert lease is not None and lease.attempt == 1
    row = store.get(session, run.id, fresh=True)
    assert row is not None
    assert row.state == "running" and row.runtime_id == "rt-1" and row.started_at == now
    assert row.lease_id == lease.lease_id and row.lease_until == now + timedelta(seconds=60)
    assert [e.to_state for e in store.events(session, run.id)] == ["running"]


def test_claim_twice_is_refused(session: Session, now: datetime) -> None:
    run = make_run(session, now)
    assert leases.claim(session, run.id, now, "rt-1") is not None
    assert leases.claim(session, run.id, now, "rt-2") is None
    assert store.get(session, run.id, fresh=True).runtime_id == "rt-1"  # type: ignore[union-attr]


def test_claim_is_its_own_transaction_and_leaves_the_connection_transactional(
        engine: Engine, now: datetime) -> None:
    # On PostgreSQL the claim runs in autocommit (one round trip); the pooled connection
    # must come back as an ordinary transactional one: a later rollback still undoes.
    with Session(engine, expire_on_commit=False) as s:
        run, other = make_run(s, now), make_run(s, now)
    with Session(engine, expire_on_commit=False) as s:
        assert leases.claim(s, run.id, now, "rt-1") is not None
        assert leases.claim(s, run.id, now, "rt-2") is None  # the duplicate delivery
        store.update_where(s, [other.id], from_states=["queued"], values={"state": "cancelled"})
        s.rollback()
    with Session(engine, expire_on_commit=False) as s:
        claimed, untouched = store.get(s, run.id), store.get(s, other.id)
        assert claimed is not None and claimed.state == "running"
        assert claimed.runtime_id == "rt-1" and claimed.attempt_count == 1
        assert untouched is not None and untouched.state == "queued"
        assert [e.to_state for e in store.events(s, run.id)] == ["running"]


@pytest.mark.parametrize("state", ["completed", "waiting_tool", "cancelled"])
def test_unclaimable_states(session: Session, now: datetime, state: str) -> None:
    run = make_run(session, now, state=state)
    assert leases.claim(session, run.id, now, "rt-1") is None
    assert leases.claim(session, "no-such-run", now, "rt-1") is None


def test_claim_next_takes_oldest(session: Session, now: datetime) -> None:
    old = make_run(session, now, queued_at=now - timedelta(minutes=5))
    make_run(session, now)
    lease = leases.claim_next(session, now, "rt-1")
    assert lease is not None and lease.run_id == old.id


def test_claim_next_empty(session: Session, now: datetime) -> None:
    assert leases.claim_next(session, now, "rt-1") is None


def test_claim_requires_fresh_transaction(session: Session, now: datetime) -> None:
    run = make_run(session, now)
    store.get(session, run.id, fresh=True)  # opens a transaction
    with pytest.raises(Exception, match="own transaction"):
        leases.claim(session, run.id, now, "rt-1")


def test_heartbeat_extends_all_and_reports_lost(session: Session, now: datetime) -> None:
    a, b = make_run(session, now), make_run(session, now)
    la = leases.claim(session, a.id, now, "rt-1", ttl_s=60)
    lb = leases.claim(session, b.id, now, "rt-1", ttl_s=10)
    assert la and lb
    # b's lease expires first and the reaper takes it back.
    assert reaper.run_once(session, now + timedelta(seconds=11)).requeued == [b.id]
    later = now + timedelta(seconds=15)
    result = leases.heartbeat(session, "rt-1", [la.lease_id, lb.lease_id], later, ttl_s=60)
    assert result.held == [a.id]
    assert result.lost == [lb.lease_id]
    row = store.get(session, a.id, fresh=True)
    assert row is not None and row.lease_until == later + timedelta(seconds=60)
    assert row.heartbeat_at == later


def test_heartbeat_reports_cancel_requests(session: Session, now: datetime) -> None:
    run = make_run(session, now)
    lease = leases.claim(session, run.id, now, "rt-1")
    assert lease
    row = store.get(session, run.id, fresh=True)
    assert row is not None
    row.cancel_requested = True
    session.commit()
    result = leases.heartbeat(session, "rt-1", [lease.lease_id], now)
    assert result.cancel_requested == [run.id]


def test_heartbeat_of_other_runtime_does_not_extend(session: Session, now: datetime) -> None:
    run = make_run(session, now)
    lease = leases.claim(session, run.id, now, "rt-1")
    assert lease
    result = leases.heartbeat(session, "rt-2", [lease.lease_id], now + timedelta(seconds=10))
    assert result.held == [] and result.lost == [lease.lease_id]


def test_release_keeps_attempt_count(session: Session, now: datetime) -> None:
    run = make_run(session, now)
    lease = leases.claim(session, run.id, now, "rt-1")
    assert lease
    assert leases.release(session, {run.id: lease.lease_id}, now) == [run.id]
    row = store.get(session, run.id, fresh=True)
    assert row is not None
    assert (row.state, row.attempt_count, row.lease_id) == ("queued", 0, None)
    run_id = run.id
    session.rollback()  # end the read: a claim opens its own transaction
    lease2 = leases.claim(session, run_id, now, "rt-2")
    assert lease2 is not None and lease2.attempt == 1


def test_release_of_lost_lease_is_skipped(session: Session, now: datetime) -> None:
    run = make_run(session, now)
    assert leases.claim(session, run.id, now, "rt-1")
    assert leases.release(session, {run.id: "stale-lease"}, now) == []
    assert store.get(session, run.id, fresh=True).state == "running"  # type: ignore[union-attr]


def test_write_is_fenced(session: Session, now: datetime) -> None:
    run = make_run(session, now)
    lease = leases.claim(session, run.id, now, "rt-1")
    assert lease
    reaper.run_once(session, now + timedelta(seconds=61))  # lease lost, run requeued
    with pytest.raises(LeaseLost):
        leases.write(session, lease, RunState.COMPLETED, now, outputs={"late": True})
    session.rollback()
    row = store.get(session, run.id, fresh=True)
    assert row is not None and row.state == "queued" and row.outputs is None
