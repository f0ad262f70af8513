"""The run writer: a group of checkpoints and finishes of several runs in one transaction,
each written only while its run holds its lease (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from fleet.runs import leases
from fleet.runs.writer import RunWriter, event_row
from fleet.store.db import session_factory
from fleet.store.models import NodeRun, Run, RunEvent
from fleet.store.types import new_id
from tests.helpers import make_run


def _node_run(run_id: str, key: str, now: datetime, cost: float) -> dict[str, Any]:
    return {"id": new_id(), "run_id": run_id, "node_id": key, "block_id": "constant",
            "exec_key": f"{key}:x:0", "state": "completed", "inputs": {},
            "outputs": [["value", 1]], "error": None, "attempt": 1, "started_at": now,
            "completed_at": now, "wall_time_s": 0.0, "resume": None, "cost": cost,
            "node_attempt": 1}


def _claimed(session: Session, now: datetime) -> leases.Lease:
    run = make_run(session, now)
    lease = leases.claim(session, run.id, now, "rt-1")
    assert lease is not None
    return lease


def _counts(session: Session, run_id: str) -> tuple[int, int]:
    nodes = session.exec(select(func.count()).select_from(NodeRun)  # type: ignore[call-overload]
                         .where(NodeRun.run_id == run_id)).one()[0]
    outputs = session.exec(select(func.count()).select_from(RunEvent)  # type: ignore[call-overload]
                           .where(RunEvent.run_id == run_id, RunEvent.kind == "output")).one()[0]
    return int(nodes), int(outputs)


def test_a_group_writes_the_runs_that_hold_their_lease_and_nothing_of_the_others(
        engine: Engine, session: Session, now: datetime) -> None:
    held, lost = _claimed(session, now), _claimed(session, now)
    # ``lost`` is taken back (as the reaper would): its lease no longer holds.
    run = session.get(Run, lost.run_id)
    assert run is not None
    run.state, run.lease_id = "queued", None
    session.add(run)
    session.commit()
    # A window long enough for every write below to join the first one's transaction.
    writer = RunWriter(session_factory(engine), window_s=0.5)
    try:
        pending = []
        for lease in (held, lost):
            for node, cost in (("a", 1.5), ("b", 2.0)):
                output = event_row(run_id=lease.run_id, at=now, kind="output",
                                   source_node=node, source_pin="value", data=1)
                pending.append(writer.checkpoint_later(
                    lease.run_id, lease.lease_id, _node_run(lease.run_id, node, now, cost),
                    [output]))
        done = now + timedelta(seconds=1)
        finished = writer.finish(held.run_id, held.lease_id,
                                 {"state": "completed", "completed_at": done},
                                 [event_row(run_id=held.run_id, at=done, kind="transition",
                                            from_state="running", to_state="completed")])
        refused = writer.finish(lost.run_id, lost.lease_id,
                                {"state": "completed", "completed_at": done}, [])
        outcomes = [p.wait() for p in pending]
    finally:
        writer.close()
    assert finished.held and not refused.held
    assert [o.held for o in outcomes] == [True, True, False, False]
    # the four checkpoints and the first finish in one transaction, the second finish alone
    assert writer.batches == 2 and writer.writes == 6
    session.expire_all()
    assert _counts(session, held.run_id) == (2, 2)
    assert _counts(session, lost.run_id) == (0, 0)
    won = session.get(Run, held.run_id)
    assert won is not None and won.state == "completed" and won.cost == 3.5
    gone = session.get(Run, lost.run_id)
    assert gone is not None and gone.state == "queued" and gone.cost in (0, None)


def test_a_write_reports_a_cancel_requested_while_it_ran(engine: Engine, session: Session,
                                                         now: datetime) -> None:
    lease = _claimed(session, now)
    run = session.get(Run, lease.run_id)
    assert run is not None
    run.cancel_requested = True
    session.add(run)
    session.commit()
    writer = RunWriter(session_factory(engine), window_s=0)
    written = writer.checkpoint(lease.run_id, lease.lease_id,
                                _node_run(lease.run_id, "a", now, 0.0), [])
    assert written.held and written.cancel_requested
    other = _claimed(session, now)
    assert not writer.checkpoint(other.run_id, other.lease_id,
                                 _node_run(other.run_id, "a", now, 0.0), []).cancel_requested


def test_a_completed_node_run_is_never_replaced_and_a_redo_adds_its_cost(
        engine: Engine, session: Session, now: datetime) -> None:
    lease = _claimed(session, now)
    writer = RunWriter(session_factory(engine), window_s=0)
    waiting = {**_node_run(lease.run_id, "a", now, 1.0), "state": "waiting_tool",
               "outputs": None}
    writer.checkpoint(lease.run_id, lease.lease_id, waiting, [])
    writer.checkpoint(lease.run_id, lease.lease_id, _node_run(lease.run_id, "a", now, 2.0), [])
    writer.checkpoint(lease.run_id, lease.lease_id,
                      {**_node_run(lease.run_id, "a", now, 4.0), "outputs": [["value", 2]]}, [])
    session.expire_all()
    rows = session.exec(select(NodeRun).where(NodeRun.run_id == lease.run_id)).all()
    assert len(rows) == 1
    stored = rows[0][0] if not isinstance(rows[0], NodeRun) else rows[0]
    assert stored.state == "completed" and stored.outputs == [["value", 1]]
    assert stored.cost == 3.0


def test_an_outage_is_retried_then_reported_as_the_store_being_unavailable(
        now: datetime) -> None:
    """The pipelined writer and the claim go to the driver directly: a server out of reach
    must still raise what ``with_retry`` retries (and StoreUnavailable once out of budget),
    never the driver's own error, and work again once the server is back."""
    import pytest

    from fleet.errors import StoreUnavailable
    from fleet.store import migrate
    from fleet.store.db import make_engine, with_retry
    from fleet.testing.servers import start_postgres

    pg = start_postgres(own=True)
    try:
        migrate.upgrade(pg.url)
        engine = make_engine(pg.url)
        open_session = session_factory(engine)
        with open_session() as s:
            lease = _claimed(s, now)
            queued = make_run(s, now).id
        writer = RunWriter(open_session, window_s=0, budget_s=1.0)
        row = _node_run(lease.run_id, "a", now, 0.0)
        pg.halt()
        with pytest.raises(StoreUnavailable):
            writer.checkpoint(lease.run_id, lease.lease_id, row, [])

        def claim() -> Any:
            with open_session() as s:
                return leases.claim(s, queued, now, "rt-2")
        with pytest.raises(StoreUnavailable):
            with_retry(claim, attempts=2, base_delay=0.01)
        pg.resume()
        assert writer.checkpoint(lease.run_id, lease.lease_id, row, []).held
        assert with_retry(claim, attempts=20, base_delay=0.1) is not None
        engine.dispose()
    finally:
        pg.stop()
