"""What one dispatcher batch writes, on SQLite and PostgreSQL (one statement there): the runs
create_many would write, a fire history read from the runs, verdicts per owner and inputs."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlmodel import Session, col

from fleet.ports import JobContext
from fleet.runs.create import NewRun, create_many
from fleet.scheduling import dispatcher
from fleet.store import runs as run_store
from fleet.store import schedules as store
from fleet.store.models import Graph, Run, Schedule, ScheduleFire
from fleet.testing import RecordingSender
from tests.helpers import make_run
from tests.integration.scheduling.conftest import add_schedule, make_graph, run_now

INPUTS = {"who": {"type": "string", "required": True, "targets": ["a.value"]}}


def _columns(run: Run) -> dict[str, Any]:
    return {c.name: getattr(run, c.name) for c in Run.__table__.columns}  # type: ignore[attr-defined]


def test_a_fired_run_has_every_column_create_many_gives_it(
        session: Session, now: datetime, ctx: JobContext, sender: RecordingSender) -> None:
    graph = make_graph(session, now, inputs=INPUTS, max_attempts=5, timeout_s=42.0)
    s = add_schedule(session, now, user_id="alice", graph_id="g1", cron_expr="0 * * * *",
                     inputs={"who": "world"})
    session.execute(update(Schedule).where(col(Schedule.id) == s.id)
                    .values(credential_refs={"a.key": "cred-1"}))
    session.commit()
    tick = now + timedelta(hours=1, seconds=5)
    report = dispatcher.run_once(session, tick, ctx)
    assert report.fired == 1
    fired = run_store.get(session, report.run_ids[0], fresh=True)
    assert fired is not None
    # The same run through the one general way a run is born, at another instant.
    made = create_many(session, [NewRun(
        user_id="alice", graph=graph, inputs={"who": "world"}, detail="x", schedule_id=s.id,
        scheduled_for=now + timedelta(hours=5), credentials={"a.key": "cred-1"})],
        tick, sending=True)
    session.commit()
    general = run_store.get(session, made[0].id, fresh=True)
    assert general is not None
    expected = {**_columns(general), "id": fired.id, "scheduled_for": now + timedelta(hours=1)}
    assert _columns(fired) == expected
    assert fired.inputs == {"who": "world"} and fired.credentials == {"a.key": "cred-1"}
    (event,) = run_store.events(session, fired.id)
    assert (event.kind, event.from_state, event.to_state, event.at) == (
        "transition", None, "queued", tick)
    assert event.detail == f"fired by schedule {s.id} for {(now + timedelta(hours=1)).isoformat()}"


def test_each_schedule_of_a_batch_gets_its_own_inputs_and_verdict(
        session: Session, now: datetime, ctx: JobContext) -> None:
    make_graph(session, now, inputs=INPUTS)
    ids = [add_schedule(session, now, user_id="alice", graph_id="g1", cron_expr="0 * * * *",
                        inputs={"who": who}).id for who in ("ann", "bea", "ann")]
    bad = add_schedule(session, now, user_id="alice", graph_id="g1", cron_expr="0 * * * *",
                       inputs={"who": "cid"})
    # stored inputs that no longer validate (the graph's input now wants a string)
    session.execute(update(Schedule).where(col(Schedule.id) == bad.id)
                    .values(input_data={"who": 5}))
    session.commit()
    report = dispatcher.run_once(session, now + timedelta(hours=1), ctx)
    assert report.fired == 3 and report.paused == [bad.id]
    by_schedule = {r.schedule_id: r.inputs for r in session.execute(select(Run)).scalars()}
    assert by_schedule == {ids[0]: {"who": "ann"}, ids[1]: {"who": "bea"}, ids[2]: {"who": "ann"}}


def test_two_owners_graphs_with_the_same_id_and_version_get_their_own_verdicts(
        session: Session, now: datetime, ctx: JobContext) -> None:
    for user in ("alice", "bob"):
        make_graph(session, now, user_id=user)
    a = add_schedule(session, now, user_id="alice", graph_id="g1", cron_expr="0 * * * *",
                     version=1)
    b = add_schedule(session, now, user_id="bob", graph_id="g1", cron_expr="0 * * * *",
                     version=1)
    # bob's g1 version 1 stops validating (its block is gone); alice's is untouched
    session.execute(update(Graph).where(col(Graph.user_id) == "bob").values(
        definition={"id": "g1", "nodes": [{"id": "a", "block": "no_such_block"}]}))
    session.commit()
    report = dispatcher.run_once(session, now + timedelta(hours=1), ctx)
    assert report.paused == [b.id] and report.fired == 1
    assert [r.schedule_id for r in session.execute(select(Run)).scalars()] == [a.id]


def test_the_fire_history_reads_fired_runs_beside_the_stored_records(
        session: Session, now: datetime, ctx: JobContext) -> None:
    make_graph(session, now)
    s = add_schedule(session, now, user_id="alice", graph_id="g1", cron_expr="0 * * * *")
    first = now + timedelta(hours=1)
    report = dispatcher.run_once(session, first + timedelta(seconds=3), ctx)
    (run_id,) = report.run_ids
    # still active at the next instant: overlap "skip" records a skip
    dispatcher.run_once(session, first + timedelta(hours=1), ctx)
    manual = run_now(session, s.id, "alice", first + timedelta(hours=1, minutes=5))
    # the dispatcher wrote no fire row for its fire: the run is the record
    stored = session.execute(select(ScheduleFire.outcome)).scalars().all()  # type: ignore[call-overload]
    assert sorted(stored) == ["fired", "skipped"]  # the skip, and run now's record
    history = [(f.scheduled_for, f.outcome, f.run_id, f.at)
               for f in store.fires(session, s.id)]
    assert history == [
        (first + timedelta(hours=1, minutes=5), "fired", manual,
         first + timedelta(hours=1, minutes=5)),
        (first + timedelta(hours=1), "skipped", None, first + timedelta(hours=1)),
        (first, "fired", run_id, first + timedelta(seconds=3)),
    ]
    assert [f.run_id for f in store.fires(session, s.id, outcome="fired")] == [manual, run_id]
    assert store.fires(session, s.id, outcome="skipped")[0].run_id is None
    assert [f.outcome for f in store.fires(session, s.id, limit=2)] == ["fired", "skipped"]
    assert store.fires(session, s.id, outcome="missed") == []


def test_a_run_without_a_cron_instant_is_no_fire_record(session: Session, now: datetime) -> None:
    make_graph(session, now)
    s = add_schedule(session, now, user_id="alice", graph_id="g1", cron_expr="0 * * * *")
    make_run(session, now, schedule_id=s.id)  # e.g. a retry: the schedule's, no instant
    assert store.fires(session, s.id) == []
    assert session.execute(select(func.count()).select_from(ScheduleFire)).scalar() == 0


def test_each_fire_is_logged_when_the_log_takes_info(
        session: Session, now: datetime, ctx: JobContext, caplog: pytest.LogCaptureFixture) -> None:
    make_graph(session, now)
    for _ in range(2):
        add_schedule(session, now, user_id="alice", graph_id="g1", cron_expr="0 * * * *")
    at = now + timedelta(hours=1)
    with caplog.at_level(logging.INFO, logger="fleet.scheduling"):
        report = dispatcher.run_once(session, at, ctx)
    fired = [r.getMessage() for r in caplog.records if " fired at " in r.getMessage()]
    runs = [run_store.get(session, run_id) for run_id in report.run_ids]
    assert sorted(fired) == sorted(f"schedule {r.schedule_id} fired at {at.isoformat()}: run {r.id}"
                                   for r in runs if r is not None)
    assert len(fired) == 2
