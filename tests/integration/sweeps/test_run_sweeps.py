"""Re-send, queued expiry, waiting timeouts, running backstop: fixed clock, both databases."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.errors import RUN_QUEUED_EXPIRED, RUN_TIMEOUT, RUN_WAIT_TIMEOUT
from fleet.ports import JobContext
from fleet.store import runs as run_store
from fleet.store.models import Graph
from fleet.sweeps import queued_expiry, resend, running_backstop, waiting_timeouts
from fleet.testing import RecordingSender
from tests.helpers import make_run
from tests.integration.sweeps.conftest import make_runtime


def _state(session: Session, run_id: str) -> str:
    row = run_store.get(session, run_id, fresh=True)
    assert row is not None
    return row.state


# --- re-send -------------------------------------------------------------------


def test_resend_never_sent_runs_go_after_a_short_grace(session: Session, now: datetime,
                                                       ctx: JobContext) -> None:
    exact = make_run(session, now - timedelta(seconds=10)).id
    over = make_run(session, now - timedelta(seconds=11)).id
    running = make_run(session, now - timedelta(minutes=10), state="running").id
    report = resend.run_once(session, now, ctx)
    assert report.sent == [over]
    assert isinstance(ctx.send_run, RecordingSender) and ctx.send_run.sent == [over]
    row = run_store.get(session, over, fresh=True)
    assert row is not None and row.last_sent_at == now and row.send_count == 1
    assert resend.run_once(session, now + timedelta(seconds=1), ctx).sent == [exact]
    assert running not in ctx.send_run.sent


def test_resend_backs_off_a_waiting_backlog(session: Session, now: datetime,
                                            ctx: JobContext) -> None:
    # A run sent once and still waiting (a backlog, not a loss) is re-sent after 2 min,
    # then 4, then 8...: not every interval.
    run = make_run(session, now - timedelta(hours=1), last_sent_at=now, send_count=1).id
    sends = []
    for minute in range(1, 40):
        at = now + timedelta(minutes=minute, seconds=1)
        if resend.run_once(session, at, ctx).sent == [run]:
            sends.append(minute)
    # (strict waits on a one-minute tick: 2, then 4+1, 8+1, 16+1 minutes later)
    assert sends == [2, 7, 16, 33], sends


def test_resend_broker_down_keeps_the_rest(session: Session, now: datetime,
                                           ctx: JobContext) -> None:
    ids = [make_run(session, now - timedelta(minutes=5)).id for _ in range(3)]
    ctx.send_run = RecordingSender(fail=True)
    report = resend.run_once(session, now, ctx)
    assert report.sent == [] and report.unsent == 3 and report.error
    assert all(run_store.get(session, i, fresh=True).last_sent_at is None  # type: ignore[union-attr]
               for i in ids)
    ctx.send_run = RecordingSender()
    assert len(resend.run_once(session, now, ctx).sent) == 3


# --- queued expiry ---------------------------------------------------------------


def test_queued_expiry_boundary(session: Session, now: datetime, ctx: JobContext) -> None:
    exact = make_run(session, now - timedelta(hours=2)).id
    over = make_run(session, now - timedelta(hours=2, seconds=1)).id
    report = queued_expiry.run_once(session, now, ctx)
    assert report.expired == [over] and not report.more
    row = run_store.get(session, over, fresh=True)
    assert row is not None and (row.state, row.error_code, row.completed_at) == (
        "failed", RUN_QUEUED_EXPIRED, now)
    assert _state(session, exact) == "queued"
    assert [e.to_state for e in run_store.events(session, over)] == ["failed"]


def test_queued_expiry_batch_limit(session: Session, now: datetime, ctx: JobContext) -> None:
    for i in range(5):
        make_run(session, now - timedelta(hours=3, minutes=i))
    ctx.settings = ctx.settings.model_copy(update={"queued_expiry_batch": 3})
    first = queued_expiry.run_once(session, now, ctx)
    assert len(first.expired) == 3 and first.more
    assert len(queued_expiry.run_once(session, now, ctx).expired) == 2


def test_queued_expiry_disabled(session: Session, now: datetime, ctx: JobContext) -> None:
    run_id = make_run(session, now - timedelta(days=3)).id
    ctx.settings = ctx.settings.model_copy(update={"queued_expiry_s": 0})
    report = queued_expiry.run_once(session, now, ctx)
    assert report.disabled and report.expired == [] and _state(session, run_id) == "queued"


# --- waiting timeouts -------------------------------------------------------------


def test_waiting_timeouts_boundaries(session: Session, now: datetime, ctx: JobContext) -> None:
    tool_exact = make_run(session, now, state="waiting_tool",
                          state_changed_at=now - timedelta(hours=1)).id
    tool_over = make_run(session, now, state="waiting_tool",
                         state_changed_at=now - timedelta(hours=1, seconds=1)).id
    appr_exact = make_run(session, now, state="waiting_approval",
                          state_changed_at=now - timedelta(hours=24)).id
    appr_over = make_run(session, now, state="waiting_approval",
                         state_changed_at=now - timedelta(hours=24, seconds=1)).id
    old_queued = make_run(session, now, state_changed_at=now - timedelta(days=2)).id
    report = waiting_timeouts.run_once(session, now, ctx)
    assert report.tool_failed == [tool_over] and report.approval_timed_out == [appr_over]
    row = run_store.get(session, tool_over, fresh=True)
    assert row is not None and (row.state, row.error_code) == ("failed", RUN_WAIT_TIMEOUT)
    row = run_store.get(session, appr_over, fresh=True)
    assert row is not None and (row.state, row.error_code) == ("timeout", RUN_WAIT_TIMEOUT)
    assert [_state(session, i) for i in (tool_exact, appr_exact, old_queued)] == [
        "waiting_tool", "waiting_approval", "queued"]


# --- running backstop ---------------------------------------------------------------


def test_running_backstop(session: Session, now: datetime, ctx: JobContext) -> None:
    session.add(Graph(id="short", version=1, user_id="alice", name="s", definition={},
                      timeout_s=600, created_at=now, updated_at=now))
    session.commit()
    make_runtime(session, "rt-on", now)
    make_runtime(session, "rt-off", now - timedelta(hours=5), status="offline",
                 offline_at=now - timedelta(hours=4))
    started = now - timedelta(hours=3)

    def running(runtime: str | None, **kw: object) -> str:
        values: dict[str, object] = {"started_at": started, **kw}
        return make_run(session, now, state="running", runtime_id=runtime, **values).id

    offline = running("rt-off")
    missing = running("rt-deleted")
    online = running("rt-on")
    not_yet = running("rt-off", started_at=now - timedelta(hours=1))
    graph_timeout = running("rt-off", graph_id="short", started_at=now - timedelta(minutes=11))
    graph_exact = running("rt-off", graph_id="short", started_at=now - timedelta(minutes=10))
    own_timeout = running(None, timeout_s=60, started_at=now - timedelta(minutes=2))
    report = running_backstop.run_once(session, now, ctx)
    assert set(report.timed_out) == {offline, missing, graph_timeout, own_timeout}
    row = run_store.get(session, offline, fresh=True)
    assert row is not None and (row.state, row.error_code) == ("timeout", RUN_TIMEOUT)
    assert [_state(session, i) for i in (online, not_yet, graph_exact)] == ["running"] * 3
