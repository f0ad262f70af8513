"""The process heartbeat: liveness, flushes, one batched lease update, the reaper per tick."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.runs import leases
from fleet.runs.execute import StopSignal
from fleet.settings import Settings
from fleet.store import runs as store
from fleet.store import runtimes as runtime_store
from fleet.testing import InMemoryLiveness
from fleet.worker.heartbeat import Heartbeat
from fleet.worker.registration import mark_offline, register
from tests.helpers import make_run
from tests.integration.fleet.support import make_runtime


def _claim(session: Session, run_id: str, now: datetime, runtime_id: str,
           ttl: float = 60) -> leases.Lease:
    lease = leases.claim(session, run_id, now, runtime_id, ttl_s=ttl)
    assert lease is not None
    return lease


def test_registration_and_offline(session: Session, settings: Settings, now: datetime) -> None:
    live = InMemoryLiveness()
    rt, _ = make_runtime(settings, liveness=live, clock=lambda: now)
    rt.concurrency, rt.queues = 4, ["fleet"]
    register(rt)
    row = runtime_store.get(session, rt.runtime_id)
    assert row is not None and row.status == "online" and row.concurrency == 4
    assert row.last_seen_at == now and live.alive([rt.runtime_id]) == {rt.runtime_id: True}
    session.rollback()
    mark_offline(rt)
    session.expire_all()
    row = runtime_store.get(session, rt.runtime_id)
    assert row is not None and row.status == "offline" and row.offline_at == now
    assert live.alive([rt.runtime_id]) == {rt.runtime_id: False}


def test_tick_extends_every_held_lease_in_one_batch(session: Session, settings: Settings,
                                                    now: datetime) -> None:
    rt, _ = make_runtime(settings, clock=lambda: now)
    runs = [make_run(session, now) for _ in range(3)]
    held = [_claim(session, r.id, now, rt.runtime_id) for r in runs]
    for lease in held:
        rt.hold(lease, StopSignal())
    later = now + timedelta(seconds=15)
    report = Heartbeat(rt).tick(later)
    assert sorted(report.extended) == sorted(r.id for r in runs)
    assert report.lost == [] and report.errors == []
    for r in runs:
        row = store.get(session, r.id, fresh=True)
        assert row is not None
        assert row.lease_until == later + timedelta(seconds=settings.lease_ttl_s)


def test_tick_stops_lost_and_cancelled_executions(session: Session, settings: Settings,
                                                  now: datetime) -> None:
    rt, sender = make_runtime(settings, clock=lambda: now)
    kept, lost, cancelled = (make_run(session, now) for _ in range(3))
    stops = {}
    for run, ttl in ((kept, 60), (lost, 5), (cancelled, 60)):
        lease = _claim(session, run.id, now, rt.runtime_id, ttl)
        stops[run.id] = StopSignal()
        rt.hold(lease, stops[run.id])
    store.update_where(session, [cancelled.id], from_states=["running"],
                       values={"cancel_requested": True})
    session.commit()
    # Another process's reaper takes `lost` back before this process beats.
    from fleet.runs import reaper

    assert reaper.run_once(session, now + timedelta(seconds=6)).requeued == [lost.id]
    report = Heartbeat(rt).tick(now + timedelta(seconds=10))
    assert stops[lost.id].reason() == "lease_lost"
    assert stops[cancelled.id].reason() == "cancelled"
    assert stops[kept.id].reason() is None
    assert report.cancelled == [cancelled.id] and len(report.lost) == 1
    assert sorted(report.extended) == sorted([kept.id, cancelled.id])
    assert sender.sent == []


def test_tick_reaps_runs_of_a_dead_worker(session: Session, settings: Settings,
                                          now: datetime) -> None:
    rt, sender = make_runtime(settings, clock=lambda: now)
    dead = make_run(session, now)
    spent = make_run(session, now, attempt_count=2, max_attempts=3)
    _claim(session, dead.id, now, "dead-runtime")
    _claim(session, spent.id, now, "dead-runtime")
    hb = Heartbeat(rt)
    assert hb.tick(now + timedelta(seconds=59)).reaped == []
    report = hb.tick(now + timedelta(seconds=61))
    assert report.reaped == [dead.id] and report.failed == [spent.id]
    assert sender.sent == [dead.id]
    row = store.get(session, spent.id, fresh=True)
    assert row is not None and row.state == "failed" and row.error_code == "E-RUN-002"


def test_flush_cadence_with_and_without_redis(session: Session, settings: Settings,
                                              now: datetime) -> None:
    live = InMemoryLiveness()
    rt, _ = make_runtime(settings, liveness=live, clock=lambda: now)
    register(rt)
    hb = Heartbeat(rt)
    flushed = [hb.tick(now + timedelta(seconds=15 * i)).flushed for i in range(1, 6)]
    # Redis up: first tick flushes, then only once runtime_flush_interval_s (60 s) has passed.
    assert flushed == [True, False, False, False, True]  # t=15 then t=75
    live.beat = _raise  # type: ignore[method-assign]
    report = hb.tick(now + timedelta(seconds=90))
    assert report.flushed and not report.beat and report.errors
    row = runtime_store.get(session, rt.runtime_id)
    assert row is not None and row.last_seen_at == now + timedelta(seconds=90)

    rt2, _ = make_runtime(settings, clock=lambda: now)  # no Redis: every tick flushes
    register(rt2)
    hb2 = Heartbeat(rt2)
    assert [hb2.tick(now + timedelta(seconds=15 * i)).flushed for i in range(1, 4)] == [True] * 3


def _raise(*_: object) -> None:
    raise ConnectionError("redis down")


def test_tick_survives_a_database_outage(tmp_path: object, now: datetime) -> None:
    settings = Settings(database_url="sqlite:////nonexistent-dir/x.sqlite",  # type: ignore[call-arg]
                        _env_file=None)
    rt, _ = make_runtime(settings, clock=lambda: now)
    rt.hold(leases.Lease("r1", "l1", now, 1), StopSignal())
    hb = Heartbeat(rt, retry_attempts=2)
    report = hb.tick(now)
    assert not report.flushed
    assert any(e.startswith("lease heartbeat") for e in report.errors)
    assert any(e.startswith("heartbeat reaper") for e in report.errors)
    assert hb.outages.down() == ["heartbeat reaper", "lease heartbeat", "runtime flush"]


def test_thread_wakes_at_a_lease_expiry_not_a_tick_later(db_url: str, session: Session) -> None:
    import time

    from fleet.clock import utcnow

    settings = Settings(database_url=db_url, heartbeat_interval_s=20,  # type: ignore[call-arg]
                        lease_ttl_s=60, _env_file=None)
    rt, sender = make_runtime(settings)
    run = make_run(session, utcnow())
    _claim(session, run.id, utcnow(), "dead-runtime", ttl=1.0)
    hb = Heartbeat(rt)
    hb.start()
    try:
        started = time.monotonic()
        while not sender.sent and time.monotonic() - started < 8:
            time.sleep(0.05)
        elapsed = time.monotonic() - started
    finally:
        hb.stop()
    assert sender.sent == [run.id], "the expired lease was not reaped between ticks"
    assert elapsed < 5, f"reaped after {elapsed:.1f}s; the tick interval is 20s"


def test_clock_skew_between_hosts_reaps_nothing(db_url: str, session: Session) -> None:
    from fleet.clock import utcnow
    from fleet.testing import ScriptedExecutor
    from fleet.worker.execution import execute_message

    settings = Settings(database_url=db_url, _env_file=None)  # type: ignore[call-arg]
    behind, _ = make_runtime(settings, clock=lambda: utcnow() - timedelta(seconds=120))
    ahead, _ = make_runtime(settings, clock=lambda: utcnow() + timedelta(seconds=120))
    for rt in (behind, ahead):
        rt.sync_clock()
        assert abs(rt.db_offset.total_seconds()) > 100  # it sees its own skew
    run = make_run(session, utcnow())
    held: list[str] = []

    def hold(open_session: object, lease: leases.Lease, stop: object) -> str:
        held.append(lease.run_id)
        # While the run is held (claimed by the host 2 minutes behind), the host
        # 2 minutes ahead reaps: on the database's clock the lease is young.
        assert Heartbeat(ahead).reap_only().reaped == []
        return "ok"

    execute_message(behind, run.id, execute=ScriptedExecutor(hold))
    assert held == [run.id]
    # The control: on its own uncorrected clock, the host ahead would have reaped it.
    ahead.db_offset = timedelta(0)
    assert Heartbeat(ahead).reap_only().reaped == [run.id]
