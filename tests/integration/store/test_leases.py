"""Claims, batched heartbeats, release and the reaper, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from fleet.errors import LeaseLost
from fleet.runs import leases, reaper
from fleet.store import graphs, hotpath
from fleet.store import runs as store
from fleet.store.models import RunState
from fleet.testing.contention import deliveries, run_message_claimers, seed_queued
from fleet.testing.graphs import delay_chain
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


@pytest.mark.parametrize("by_run_id", [False, True], ids=["lease-ids", "with-run-ids"])
def test_heartbeat_extends_all_and_reports_lost(session: Session, now: datetime,
                                                by_run_id: bool) -> None:
    a, b = make_run(session, now), make_run(session, now)
    la = leases.claim(session, a.id, now, "rt-1", ttl_s=60)
    lb = leases.claim(session, b.id, now, "rt-1", ttl_s=10)
    assert la and lb
    # b's lease expires first and the reaper takes it back.
    assert reaper.run_once(session, now + timedelta(seconds=11)).requeued == [b.id]
    later = now + timedelta(seconds=15)
    result = leases.heartbeat(session, "rt-1", [la.lease_id, lb.lease_id], later, ttl_s=60,
                              run_ids=[a.id, b.id] if by_run_id else ())
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


def test_claim_returns_the_run_and_its_own_users_graph(session: Session, now: datetime) -> None:
    # Two users with a graph of the same id and version: the claim reads its run's.
    for user, timeout in (("alice", 60.0), ("bob", 90.0)):
        graphs.add_version(session, graph_id="g1", user_id=user, name="g1", description="",
                           definition=delay_chain(f"g1-{user}", [0]), timeout_s=timeout,
                           max_attempts=3, now=now)
    session.commit()
    runs = {user: make_run(session, now, user_id=user, inputs={"x": [1, "é"]},
                           credentials={"a.key": "cred-1"}, timeout_s=5.5)
            for user in ("bob", "alice")}
    for user, run in runs.items():
        lease = leases.claim(session, run.id, now, "rt-1", ttl_s=30)
        assert lease is not None and lease.claimed is not None
        claimed = lease.claimed
        assert claimed.definition == delay_chain(f"g1-{user}", [0])
        assert claimed.graph_timeout_s == {"alice": 60.0, "bob": 90.0}[user]
        # as the typed read of a claimed run returns it (UTC datetimes, JSON, booleans)
        row = session.execute(hotpath.claimed_row(run.id, lease.lease_id)).first()
        session.commit()
        assert row is not None and hotpath.ClaimedRow(*row) == claimed
        assert claimed.started_at == now and claimed.lease_until == now + timedelta(seconds=30)
        assert claimed.inputs == {"x": [1, "é"]} and claimed.cancel_requested is False
        assert [e.detail for e in store.events(session, run.id)] == [
            "claimed by runtime rt-1, attempt 1"]
        session.commit()


def test_claim_of_a_run_whose_graph_version_is_gone(session: Session, now: datetime) -> None:
    run = make_run(session, now, graph_id="gone")
    lease = leases.claim(session, run.id, now, "rt-1")
    assert lease is not None and lease.claimed is not None
    assert lease.claimed.definition is None and lease.claimed.graph_timeout_s is None


@pytest.mark.slow
def test_message_claimers_claim_each_run_once(db_url: str) -> None:
    # 8 processes, each run delivered through one queue, every 10th twice: as bench/claims.py.
    ids = seed_queued(db_url, 600, with_graph=True)
    results = run_message_claimers(db_url, 8, deliveries(ids))
    claimed = Counter(run_id for r in results for run_id, _ in r.claims)
    assert [e for r in results for e in r.errors] == []
    assert sorted(claimed) == sorted(ids) and max(claimed.values()) == 1
    assert sum(r.dropped for r in results) == len(deliveries(ids)) - len(ids)
