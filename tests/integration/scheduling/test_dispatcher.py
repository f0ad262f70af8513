"""The dispatcher on SQLite and PostgreSQL: fires, DST, catch-up, overlap, graph changes."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import Session, col

from fleet.graphs import service as graphs
from fleet.ports import JobContext
from fleet.scheduling import dispatcher, service
from fleet.store import graphs as graph_store
from fleet.store import runs as run_store
from fleet.store import schedules as store
from fleet.store.models import Graph, Run, Schedule
from fleet.testing import RecordingAlerts, RecordingSender
from tests.helpers import make_run
from tests.integration.scheduling.conftest import add_schedule, make_graph


def _add(session: Session, now: datetime, cron_expr: str, tz: str = "UTC",
         **kw: object) -> Schedule:
    return add_schedule(session, now, user_id="alice", graph_id="g1", cron_expr=cron_expr,
                       timezone=tz, **kw)  # type: ignore[arg-type]


def _fired(session: Session, schedule_id: str) -> list[datetime]:
    return [r.scheduled_for for r in store.runs_of(session, schedule_id)
            if r.scheduled_for is not None]


def test_due_schedule_creates_one_queued_run_and_sends_it(
        session: Session, now: datetime, ctx: JobContext, sender: RecordingSender) -> None:
    make_graph(session, now, max_attempts=4, timeout_s=99.0)
    s = _add(session, now, "*/5 * * * *", inputs={})
    assert s.next_run_at == now + timedelta(minutes=5)
    tick = now + timedelta(minutes=5, seconds=20)
    report = dispatcher.run_once(session, tick, ctx)
    assert report.fired == 1 and len(sender.sent) == 1
    run = run_store.get(session, sender.sent[0], fresh=True)
    assert run is not None
    assert (run.state, run.schedule_id, run.scheduled_for, run.user_id) == \
        ("queued", s.id, now + timedelta(minutes=5), "alice")
    assert (run.graph_id, run.graph_version, run.max_attempts, run.timeout_s) == ("g1", 1, 4, 99.0)
    assert run.queued_at == tick and run.last_sent_at == tick and run.send_count == 1
    assert [e.to_state for e in run_store.events(session, run.id)] == ["queued"]
    fresh = store.get(session, s.id, fresh=True)
    assert fresh is not None and fresh.next_run_at == now + timedelta(minutes=10)
    assert fresh.last_fired_at == now + timedelta(minutes=5)
    assert [f.outcome for f in store.fires(session, s.id)] == ["fired"]
    # A second pass at the same instant finds nothing due.
    again = dispatcher.run_once(session, tick, ctx)
    assert again.fired == 0 and len(sender.sent) == 1


def test_many_due_schedules_in_several_batches_and_lanes_fire_once_each(
        session: Session, now: datetime, ctx: JobContext, sender: RecordingSender) -> None:
    make_graph(session, now)
    schedules = [_add(session, now, "*/5 * * * *", inputs={}) for _ in range(23)]
    lanes = JobContext(settings=ctx.settings.model_copy(
        update={"dispatch_batch_size": 4, "dispatch_parallel": 3}),
        send_run=ctx.send_run, send_many=ctx.send_many, alerts=ctx.alerts)
    report = dispatcher.run_once(session, now + timedelta(minutes=5, seconds=1), lanes)
    assert report.fired == 23 and report.examined == 23
    assert report.batches >= 6  # batches of 4 (on PostgreSQL spread over three lanes)
    assert sorted(sender.sent) == sorted(report.run_ids) and len(set(sender.sent)) == 23
    assert all(len(_fired(session, s.id)) == 1 for s in schedules)


def test_duplicate_fire_is_impossible(session: Session, now: datetime, ctx: JobContext,
                                      sender: RecordingSender) -> None:
    """A second dispatcher that already fired the instant (next_run_at not yet moved)."""
    make_graph(session, now)
    s = _add(session, now, "0 * * * *", overlap="allow")
    tick = now + timedelta(hours=1)
    dispatcher.run_once(session, tick, ctx)
    session.execute(update(Schedule).where(col(Schedule.id) == s.id)
                    .values(next_run_at=now + timedelta(hours=1)))
    session.commit()
    report = dispatcher.run_once(session, tick, ctx)
    assert report.fired == 0 and report.duplicates == 1
    assert _fired(session, s.id) == [now + timedelta(hours=1)] and len(sender.sent) == 1


def test_failed_send_leaves_run_queued_unsent(session: Session, now: datetime,
                                              settings: object) -> None:
    make_graph(session, now)
    _add(session, now, "* * * * *")
    failing = RecordingSender(fail=True)
    ctx = JobContext(settings=settings, send_run=failing)  # type: ignore[arg-type]
    report = dispatcher.run_once(session, now + timedelta(minutes=1), ctx)
    assert report.fired == 1 and report.unsent == report.run_ids
    run = run_store.get(session, report.run_ids[0], fresh=True)
    assert run is not None and run.state == "queued" and run.last_sent_at is None
    assert run.send_count == 0  # the send recorded in advance was undone


def test_a_refused_batch_send_leaves_every_run_unsent_for_the_resend_sweep(
        session: Session, now: datetime, settings: object) -> None:
    make_graph(session, now)
    for _ in range(3):
        _add(session, now, "* * * * *")
    failing = RecordingSender(fail=True)
    ctx = JobContext(settings=settings, send_run=failing,  # type: ignore[arg-type]
                     send_many=lambda ids: failing(ids[0]))
    tick = now + timedelta(minutes=1)
    report = dispatcher.run_once(session, tick, ctx)
    assert report.fired == 3 and sorted(report.unsent) == sorted(report.run_ids)
    for run_id in report.run_ids:
        run = run_store.get(session, run_id, fresh=True)
        assert run is not None and (run.last_sent_at, run.send_count) == (None, 0)
    # the re-send sweep's own condition takes them once they wait resend_unsent_after_s
    due = run_store.resend_due(tick + timedelta(seconds=11), unsent_after_s=10.0,
                               resend_after_s=120.0)
    assert sorted(run_store.unclaimed_since(session, due, 10)) == sorted(report.run_ids)


def test_dispatcher_across_dst_matches_preview(session: Session, ctx: JobContext) -> None:
    """Ticking every minute through New York's spring-forward and fall-back days."""
    tz = "America/New_York"
    seen: list[list[str]] = []
    # From local midnight to 08:00 local, one tick a minute.
    for day_start, day_end in ((datetime(2026, 3, 8, 5, tzinfo=UTC),
                                datetime(2026, 3, 8, 12, tzinfo=UTC)),
                               (datetime(2026, 11, 1, 4, tzinfo=UTC),
                                datetime(2026, 11, 1, 13, tzinfo=UTC))):
        session.rollback()
        make_graph(session, day_start)
        daily = _add(session, day_start, "30 1,2 * * *", tz, overlap="allow")
        hourly = _add(session, day_start, "0 * * * *", tz, overlap="allow")
        tick = day_start
        while tick <= day_end:
            dispatcher.run_once(session, tick, ctx)
            tick += timedelta(minutes=1)
        for s in (daily, hourly):
            expected = [f.utc for f in service.preview(s.cron, tz, day_start, 40).fires
                        if f.utc <= day_end]
            fired = _fired(session, s.id)
            assert fired == expected, s.cron
            assert len(set(fired)) == len(fired)
            seen.append([t.astimezone(ZoneInfo(tz)).strftime("%H:%M%z") for t in fired])
        session.execute(update(Schedule).values(paused=True))
        session.commit()
    spring_daily, spring_hourly, autumn_daily, autumn_hourly = seen
    assert spring_daily == ["01:30-0500", "03:00-0400"]  # 02:30 skipped: fires at 03:00 EDT
    assert "02:00-0400" not in spring_hourly and "02:00-0500" not in spring_hourly
    assert autumn_daily == ["01:30-0400", "02:30-0500"]  # 01:30 once, at its first occurrence
    assert autumn_hourly[:4] == ["01:00-0400", "01:00-0500", "02:00-0500", "03:00-0500"]


def test_downtime_catchup_policies(session: Session, now: datetime, ctx: JobContext) -> None:
    make_graph(session, now)
    ids = {p: _add(session, now, "*/15 * * * *", catchup=p, overlap="allow").id
           for p in ("latest", "all", "skip")}
    end = now + timedelta(hours=3)  # down from just after `now` for 3 hours
    report = dispatcher.run_once(session, end, ctx)
    assert _fired(session, ids["latest"]) == [end]
    assert _fired(session, ids["all"]) == [end - timedelta(minutes=m) for m in (60, 45, 30, 15, 0)]
    assert _fired(session, ids["skip"]) == [end]  # on time within the grace; the rest missed
    missed = {p: len(store.fires(session, i, outcome="missed")) for p, i in ids.items()}
    assert missed == {"latest": 11, "all": 7, "skip": 11}
    assert report.missed == 29 and report.fired == 7


def test_misses_of_one_schedule_log_one_line(session: Session, now: datetime, ctx: JobContext,
                                             caplog: pytest.LogCaptureFixture) -> None:
    make_graph(session, now)
    s = _add(session, now, "* * * * *", catchup="latest", overlap="allow")
    with caplog.at_level(logging.WARNING, logger="fleet.scheduling"):
        dispatcher.run_once(session, now + timedelta(minutes=30), ctx)
    lines = [r.getMessage() for r in caplog.records if "missed" in r.getMessage()]
    assert len(lines) == 1 and "29 instants" in lines[0], lines
    assert len(store.fires(session, s.id, outcome="missed")) == 29  # every instant recorded


def test_skip_policy_fires_nothing_after_downtime(session: Session, now: datetime,
                                                  ctx: JobContext) -> None:
    make_graph(session, now)
    s = _add(session, now, "0 * * * *", catchup="skip")
    dispatcher.run_once(session, now + timedelta(hours=3, minutes=10), ctx)
    assert _fired(session, s.id) == []
    assert len(store.fires(session, s.id, outcome="missed")) == 3
    fresh = store.get(session, s.id, fresh=True)
    assert fresh is not None and fresh.next_run_at == now + timedelta(hours=4)


def test_overlap_skip_with_active_run(session: Session, now: datetime, ctx: JobContext) -> None:
    make_graph(session, now)
    s = _add(session, now, "0 * * * *")
    make_run(session, now, schedule_id=s.id, state="running")
    report = dispatcher.run_once(session, now + timedelta(hours=1), ctx)
    assert report.fired == 0 and report.skipped == 1
    assert _fired(session, s.id) == []
    skipped = store.fires(session, s.id, outcome="skipped")
    assert [f.scheduled_for for f in skipped] == [now + timedelta(hours=1)]


def test_overlap_buffer_one_fires_after_previous_ends(session: Session, now: datetime,
                                                      ctx: JobContext) -> None:
    make_graph(session, now)
    s = _add(session, now, "*/15 * * * *", overlap="buffer_one")
    active = make_run(session, now, schedule_id=s.id, state="running")
    dispatcher.run_once(session, now + timedelta(minutes=15), ctx)
    dispatcher.run_once(session, now + timedelta(minutes=30), ctx)
    assert _fired(session, s.id) == []
    assert [f.scheduled_for for f in store.fires(session, s.id, outcome="skipped")] == \
        [now + timedelta(minutes=30)]
    session.execute(update(Run).where(col(Run.id) == active.id).values(state="completed"))
    session.commit()
    dispatcher.run_once(session, now + timedelta(minutes=33), ctx)
    assert _fired(session, s.id) == [now + timedelta(minutes=15)]
    fresh = store.get(session, s.id, fresh=True)
    assert fresh is not None and fresh.buffered_for is None


def test_overlap_cancel_previous(session: Session, now: datetime, ctx: JobContext) -> None:
    make_graph(session, now)
    s = _add(session, now, "0 * * * *", overlap="cancel_previous")
    running = make_run(session, now, schedule_id=s.id, state="running", lease_id="L")
    queued = make_run(session, now, schedule_id=s.id)
    report = dispatcher.run_once(session, now + timedelta(hours=1), ctx)
    assert report.fired == 1
    assert report.cancel_requested == [running.id] and report.cancelled == [queued.id]
    r = run_store.get(session, running.id, fresh=True)
    q = run_store.get(session, queued.id, fresh=True)
    assert r is not None and r.state == "running" and r.cancel_requested
    assert q is not None and q.state == "cancelled"


def test_graph_deleted_or_archived_removes_schedule_at_fire_time(
        session: Session, now: datetime, ctx: JobContext) -> None:
    make_graph(session, now)
    make_graph(session, now, "g2")
    gone = _add(session, now, "0 * * * *")
    archived = add_schedule(session, now, user_id="alice", graph_id="g2", cron_expr="0 * * * *")
    graph_store.delete(session, "alice", "g1")  # behind the service's back: found at fire time
    graph_store.set_archived(session, "alice", "g2", True, now)
    session.commit()
    report = dispatcher.run_once(session, now + timedelta(hours=1), ctx)
    assert sorted(report.removed) == sorted([gone.id, archived.id]) and report.fired == 0
    assert store.get(session, gone.id, fresh=True) is None
    assert store.get(session, archived.id, fresh=True) is None


def test_graph_removed_at_delete_time(session: Session, now: datetime) -> None:
    make_graph(session, now)
    make_graph(session, now, "g2")
    a = _add(session, now, "0 * * * *")
    b = _add(session, now, "30 * * * *")
    other = add_schedule(session, now, user_id="alice", graph_id="g2", cron_expr="0 * * * *")
    assert graphs.delete_graph(session, "alice", "g1", now) == 1
    assert store.get(session, a.id, fresh=True) is None
    assert store.get(session, b.id, fresh=True) is None
    assert store.get(session, other.id, fresh=True) is not None


def test_invalid_graph_pauses_with_reason_and_notifies(
        session: Session, now: datetime, ctx: JobContext, alerts: RecordingAlerts) -> None:
    make_graph(session, now)
    s = _add(session, now, "0 * * * *")
    # The graph's active version changes into one that no longer validates.
    session.add(Graph(id="g1", version=2, user_id="alice", name="g1",
                      definition={"id": "g1", "nodes": [{"id": "a", "block": "no_such_block"}]},
                      created_at=now, updated_at=now))
    session.execute(update(Graph).where(col(Graph.version) == 1).values(is_active=False))
    session.commit()
    report = dispatcher.run_once(session, now + timedelta(hours=1), ctx)
    assert report.paused == [s.id] and report.fired == 0
    fresh = store.get(session, s.id, fresh=True)
    assert fresh is not None and fresh.paused and "no_such_block" in (fresh.paused_reason or "")
    failed = store.fires(session, s.id, outcome="failed")
    assert len(failed) == 1 and "no_such_block" in (failed[0].detail or "")
    assert alerts.fired[0]["kind"] == "schedule_paused"
    assert (alerts.fired[0]["fingerprint"], alerts.fired[0]["user_id"]) == (s.id, "alice")
    assert alerts.fired[0]["tag"] == "user"
    # Paused: later ticks leave it alone.
    assert dispatcher.run_once(session, now + timedelta(hours=2), ctx).examined == 0
