"""Late executions, block error rates, accuracy and weekly summaries on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.ports import JobContext
from fleet.runs import leases
from fleet.store import alerts as alert_store
from fleet.store import runs as run_store
from fleet.store.models import NodeRun
from fleet.sweeps import accuracy, block_errors, late_executions, weekly_summary
from fleet.testing.alerts import RecordingChannel
from tests.helpers import make_run

# --- late executions -------------------------------------------------------------------


def test_late_boundaries(session: Session, now: datetime, ctx: JobContext) -> None:
    q = {"exact5": 5 * 60, "over5": 5 * 60 + 1, "exact60": 3600, "over60": 3600 + 1}
    ids = {name: make_run(session, now - timedelta(seconds=s), user_id=name).id
           for name, s in q.items()}
    ids["run24"] = make_run(session, now, state="running", user_id="r1",
                            started_at=now - timedelta(hours=24)).id
    ids["run24+"] = make_run(session, now, state="running", user_id="r2",
                             started_at=now - timedelta(hours=24, seconds=1)).id
    report = late_executions.run_once(session, now, ctx)
    assert report.late == 3 and report.totals == {"queued": 2, "running": 1}
    assert report.users == 3
    for late in ("over5", "exact60", "run24+"):
        assert ids[late] in report.message
    for on_time in ("exact5", "over60", "run24"):
        assert ids[on_time] not in report.message


def test_late_message_lists_five_oldest(session: Session, now: datetime,
                                        ctx: JobContext) -> None:
    ids = [make_run(session, now - timedelta(minutes=10 + i), user_id=f"u{i % 3}").id
           for i in range(8)]
    report = late_executions.run_once(session, now, ctx)
    lines = report.message.splitlines()
    assert lines[0] == "Late executions: 8 runs (queued: 8) from 3 users."
    listed = [ln.split(":")[0].removeprefix("- run ") for ln in lines[2:7]]
    assert listed == list(reversed(ids))[:5]
    assert lines[-1] == "... and 3 more."


def test_late_none(session: Session, now: datetime, ctx: JobContext,
                   channel: RecordingChannel) -> None:
    make_run(session, now)
    report = late_executions.run_once(session, now, ctx)
    assert report.message == "No late executions detected." and not report.alerted
    assert channel.sent == []


def test_a_growing_backlog_is_one_incident_with_hourly_reminders(
        session: Session, now: datetime, ctx: JobContext, channel: RecordingChannel) -> None:
    # A long look-back keeps these queued runs late for the whole test.
    ctx.settings = ctx.settings.model_copy(update={"late_lookback_s": 86_400.0})
    first = make_run(session, now - timedelta(minutes=10)).id
    # Two hours of five-minute ticks, one more late run each tick.
    for tick in range(25):
        at = now + timedelta(minutes=5 * tick)
        make_run(session, at - timedelta(minutes=6))
        late_executions.run_once(session, at, ctx)
    assert channel.titles() == ["[fleet] FIRING: late_executions",
                                "[fleet] REMINDER: late_executions",
                                "[fleet] REMINDER: late_executions"]
    assert first in channel.sent[0].body and channel.sent[0].urls == ("json://ops.example/hook",)
    assert "14 runs" in channel.sent[1].body and "26 runs" in channel.sent[2].body
    [alert] = alert_store.list_alerts(session, kind=late_executions.KIND)
    assert alert.fingerprint == "queued" and alert.send_count == 3
    # Cleared (the runs were claimed): one resolved note, then silence.
    later = now + timedelta(hours=2, minutes=1)
    queued = run_ids_in(session, "queued")
    session.commit()
    for run_id in queued:
        assert leases.claim(session, run_id, later, "rt-1") is not None
    for tick in range(3):
        report = late_executions.run_once(session, later + timedelta(seconds=tick), ctx)
        assert report.message == "No late executions detected."
    assert channel.titles()[-1] == "[fleet] RESOLVED: late_executions"
    assert len(channel.sent) == 4
    assert alert_store.firing_fingerprints(session, late_executions.KIND) == []


def run_ids_in(session: Session, state: str) -> list[str]:
    """Every run id in ``state``."""
    return run_store.ids_in_state(session, state, 1000)


# --- block error rates ---------------------------------------------------------------


def _nodes(session: Session, at: datetime, block: str, ok: int, failed: int,
           errors: list[str] | None = None) -> None:
    run = make_run(session, at)
    for i in range(ok):
        session.add(NodeRun(run_id=run.id, node_id="n", block_id=block, exec_key=f"ok{i}",
                            state="completed", completed_at=at))
    for i in range(failed):
        err = (errors or ["boom"])[i % len(errors or ["boom"])]
        session.add(NodeRun(run_id=run.id, node_id="n", block_id=block, exec_key=f"ko{i}",
                            state="failed", error=err, completed_at=at))
    session.commit()


def test_block_errors_alert_with_masked_samples(session: Session, now: datetime,
                                                ctx: JobContext,
                                                channel: RecordingChannel) -> None:
    at = now - timedelta(hours=1)
    _nodes(session, at, "http", ok=5, failed=5,
           errors=["GET https://x.io/a/1 returned 502", "GET https://x.io/b/2 returned 503",
                   "timeout after 30s for job 3f2a9c1b-1111-4222-8333-444455556666",
                   "user bob@example.com has no access to /srv/data/x.csv"])
    _nodes(session, at, "under", ok=6, failed=4)
    _nodes(session, at, "few", ok=0, failed=9)
    _nodes(session, now - timedelta(hours=24, seconds=1), "old", ok=0, failed=20)
    report = block_errors.run_once(session, now, ctx)
    assert report.alerting == ["http"]
    body = channel.sent[0].body
    assert body.startswith("Block http: 5 of 10 executions failed (50%) in the last 24 h.")
    assert "- GET <url> returned <n> (x3)" in body
    assert "bob@example.com" not in body and "3f2a9c1b" not in body and "x.io" not in body
    assert len([ln for ln in body.splitlines() if ln.startswith("- ")]) == 3
    # The same block next day, now healthy: resolved.
    _nodes(session, now + timedelta(hours=2), "http", ok=30, failed=0)
    report = block_errors.run_once(session, now + timedelta(days=1), ctx)
    assert report.alerting == [] and report.resolved == ["http"]
    assert channel.titles()[-2:] == ["[fleet] RESOLVED: block_error_rate",
                                     "[fleet] block_error_summary"]


def test_block_errors_summary_and_no_errors(session: Session, now: datetime,
                                            ctx: JobContext,
                                            channel: RecordingChannel) -> None:
    report = block_errors.run_once(session, now, ctx)
    assert report.message == "No block errors in the last 24 h."
    _nodes(session, now + timedelta(hours=1), "a", ok=20, failed=2)
    report = block_errors.run_once(session, now + timedelta(days=1, hours=-1), ctx)
    assert report.message.splitlines()[1] == "- a: 2 of 22 failed (9%)"
    # Two summaries on two days; a second run the same day sends nothing new.
    block_errors.run_once(session, now + timedelta(days=1), ctx)
    assert [s.title for s in channel.sent] == ["[fleet] block_error_summary"] * 2


# --- accuracy ------------------------------------------------------------------------


def _finished_runs(session: Session, day: datetime, graph: str, ok: int, failed: int) -> None:
    for i in range(ok + failed):
        make_run(session, day, commit=False, graph_id=graph,
                 state="completed" if i < ok else "failed", completed_at=day)
    session.commit()


def test_accuracy_drop_alerts_once_per_graph(session: Session, now: datetime,
                                             ctx: JobContext,
                                             channel: RecordingChannel) -> None:
    for back in range(7):
        day = now - timedelta(days=back, hours=1)
        good = 10 if back >= 3 else 5
        _finished_runs(session, day, "drops", good, 10 - good)
        _finished_runs(session, day, "steady", 9, 1)
    _finished_runs(session, now - timedelta(hours=1), "tiny", 0, 5)  # under 10 runs
    report = accuracy.run_once(session, now, ctx)
    assert [g.graph_id for g in report.graphs] == ["drops", "steady"]
    assert report.alerting == ["drops"]
    drops = report.graphs[0]
    assert drops.short_avg == 0.5 and abs((drops.long_avg or 0) - 5.5 / 7) < 1e-9
    assert [s.title for s in channel.sent] == ["[fleet] FIRING: accuracy_drop"]
    assert channel.sent[0].urls == ("json://product.example/hook",)
    accuracy.run_once(session, now + timedelta(minutes=5), ctx)
    assert len(channel.sent) == 1


def test_accuracy_uses_correctness_score(session: Session, now: datetime,
                                         ctx: JobContext) -> None:
    for back in range(7):
        score = 0.9 if back >= 3 else 0.5
        for _ in range(4):
            make_run(session, now, commit=False, graph_id="scored", state="completed",
                     completed_at=now - timedelta(days=back, hours=1), correctness_score=score)
    session.commit()
    report = accuracy.run_once(session, now, ctx)
    assert report.alerting == ["scored"]  # every run succeeded, but the scores dropped


# --- weekly summary ------------------------------------------------------------------


def test_weekly_summary_per_user_and_opt_out(session: Session, now: datetime,
                                             ctx: JobContext,
                                             channel: RecordingChannel) -> None:
    day = now - timedelta(days=2)
    make_run(session, day, user_id="alice", graph_id="g1", state="completed", completed_at=day,
             wall_time_s=10.0, cost=1.0)
    make_run(session, day, user_id="alice", graph_id="g2", state="failed", completed_at=day,
             wall_time_s=2.0)
    make_run(session, day, user_id="bob", state="completed", completed_at=day)
    make_run(session, day, user_id="carol", state="completed", completed_at=day)
    make_run(session, now - timedelta(days=8), user_id="dave", state="completed",
             completed_at=now - timedelta(days=8))
    alert_store.set_notification(session, "alice", now, urls=["json://alice.example/x"])
    alert_store.set_notification(session, "bob", now, urls=["json://bob.example/x"],
                                 weekly_summary=False)
    session.commit()
    report = weekly_summary.run_once(session, now, ctx)
    assert report.sent == ["alice", "carol"] and report.opted_out == ["bob"]
    assert "runs: 2 (1 succeeded, 1 failed; success rate 50%)" in report.users["alice"]
    # Alice's goes to her own URL; Carol has none: recorded and logged, not delivered.
    assert [(s.urls, s.title) for s in channel.sent] == [
        (("json://alice.example/x",), "[fleet] weekly_summary")]
    rows = {a.user_id: a for a in alert_store.list_alerts(session, kind="weekly_summary")}
    assert set(rows) == {"alice", "carol"}
    assert rows["carol"].delivery_result and "logged only" in rows["carol"].delivery_result
    weekly_summary.run_once(session, now + timedelta(hours=2), ctx)  # the same week again
    assert len(channel.sent) == 1
