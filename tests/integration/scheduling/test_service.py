"""Schedule service: validation on add, ownership, pause/resume, run now; and the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from fleet.cli.context import CliContext
from fleet.cli.main import build_app
from fleet.errors import InvalidInput, NotFound
from fleet.scheduling import service
from fleet.settings import Settings
from fleet.store import runs as run_store
from fleet.store import schedules as store
from fleet.testing import RecordingSender
from tests.integration.scheduling.conftest import add_schedule, make_graph, resume, run_now

INPUTS = {"who": {"type": "string", "required": True, "targets": ["a.value"]}}


def test_add_validates_everything_and_stores_nothing_on_error(session: Session,
                                                              now: datetime) -> None:
    make_graph(session, now, inputs=INPUTS)
    with pytest.raises(InvalidInput) as info:
        add_schedule(session, now, user_id="alice", graph_id="g1", cron_expr="61 * * * *",
                    timezone="Mars/Base", inputs={"who": 5}, overlap="sometimes")
    text = " | ".join(info.value.problems)
    for fragment in ("0-59", "Mars/Base", "overlap policy", "input 'who'"):
        assert fragment in text, text
    with pytest.raises(InvalidInput) as missing:
        add_schedule(session, now, user_id="alice", graph_id="nope", cron_expr="* * * * *")
    assert "does not exist" in missing.value.problems[0]
    with pytest.raises(InvalidInput):  # another user's graph is not visible
        add_schedule(session, now, user_id="bob", graph_id="g1", cron_expr="* * * * *",
                    inputs={"who": "x"})
    assert store.list_schedules(session) == []


def test_add_refuses_invalid_graph(session: Session, now: datetime) -> None:
    make_graph(session, now, block="no_such_block")
    with pytest.raises(InvalidInput) as info:
        add_schedule(session, now, user_id="alice", graph_id="g1", cron_expr="* * * * *")
    assert any("no_such_block" in p for p in info.value.problems)


def test_other_user_cannot_delete_pause_resume_or_run(session: Session, now: datetime) -> None:
    make_graph(session, now)
    s = add_schedule(session, now, user_id="alice", graph_id="g1", cron_expr="0 * * * *")
    before = store.get(session, s.id, fresh=True)
    assert before is not None
    snapshot = before.model_dump()
    # Another user's schedule is answered exactly as a missing one.
    for action in (service.delete, service.pause):
        with pytest.raises(NotFound, match="does not exist for user 'mallory'"):
            action(session, s.id, "mallory", now)  # type: ignore[operator]
    with pytest.raises(NotFound, match="does not exist for user 'mallory'"):
        resume(session, s.id, "mallory", now)
    with pytest.raises(NotFound, match="does not exist for user 'mallory'"):
        run_now(session, s.id, "mallory", now)
    after = store.get(session, s.id, fresh=True)
    assert after is not None and after.model_dump() == snapshot
    assert store.runs_of(session, s.id) == []
    with pytest.raises(NotFound):
        service.pause(session, "missing", "alice", now)


def test_pause_resume_and_run_now(session: Session, now: datetime) -> None:
    make_graph(session, now)
    s = add_schedule(session, now, user_id="alice", graph_id="g1", cron_expr="0 9 * * *",
                    timezone="Europe/Paris")
    paused = service.pause(session, s.id, "alice", now)
    assert paused.paused and paused.paused_reason
    later = now + timedelta(days=3)
    resumed = resume(session, s.id, "alice", later)
    assert not resumed.paused and resumed.next_run_at is not None
    assert resumed.next_run_at > later
    sender = RecordingSender()
    run_id = run_now(session, s.id, "alice", later, sender)
    assert sender.sent == [run_id]
    run = run_store.get(session, run_id, fresh=True)
    assert run is not None and run.schedule_id == s.id and run.scheduled_for is None
    assert run.last_sent_at == later
    views = service.list_schedules(session, later, user_id="alice")
    assert [f.local.strftime("%H:%M") for f in views[0].next_fires] == ["09:00"] * 3
    assert views[0].description == "at 09:00, every day (Europe/Paris)"


def _cli(settings: Settings, *args: str) -> tuple[int, str]:
    runner = CliRunner()
    result = runner.invoke(build_app(), list(args), obj=CliContext(settings))
    return result.exit_code, result.output


def test_cli_add_list_pause_delete(session: Session, now: datetime, settings: Settings) -> None:
    make_graph(session, now, inputs=INPUTS)
    code, out = _cli(settings, "schedules", "add", "--graph", "g1", "--cron", "30 2 * * *",
                     "--tz", "America/New_York", "--input", "who=world", "--user", "alice",
                     "--overlap", "allow", "--json")
    assert code == 0, out
    added = json.loads(out)
    assert added["inputs"] == {"who": "world"} and len(added["next_fires"]) == 3
    code, out = _cli(settings, "schedules", "list", "--user", "alice", "--json")
    assert code == 0 and [v["id"] for v in json.loads(out)] == [added["id"]]
    code, out = _cli(settings, "schedules", "pause", added["id"], "--user", "bob")
    assert code == 2 and "does not exist for user 'bob'" in out
    code, out = _cli(settings, "schedules", "delete", added["id"], "--user", "bob")
    assert code == 2
    code, out = _cli(settings, "schedules", "pause", added["id"], "--user", "alice")
    assert code == 0, out
    code, out = _cli(settings, "schedules", "delete", added["id"], "--user", "alice")
    assert code == 0 and store.get(session, added["id"], fresh=True) is None
    code, out = _cli(settings, "schedules", "add", "--graph", "g1", "--cron", "* * *",
                     "--user", "alice")
    assert code == 2 and "expected 5 fields" in out


def test_cli_preview_across_spring_forward(settings: Settings) -> None:
    code, out = _cli(settings, "schedules", "preview", "30 2 * * *", "--tz", "America/New_York",
                     "--from", "2026-03-07T12:00:00+00:00", "--count", "2", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert [f["local"] for f in data["fires"]] == ["2026-03-08T03:00:00-04:00",
                                                   "2026-03-09T02:30:00-04:00"]
    assert data["description"].startswith("at 02:30")
    code, out = _cli(settings, "schedules", "preview", "0 0 * * *", "--tz", "Nowhere/Land")
    assert code == 2 and "Nowhere/Land" in out


def test_cli_sweep_dispatch_and_list(session: Session, now: datetime, settings: Settings) -> None:
    code, out = _cli(settings, "sweep", "--list", "--json")
    assert code == 0, out
    assert "dispatch" in [j["name"] for j in json.loads(out)]
    code, out = _cli(settings, "sweep", "dispatch", "--json")
    assert code == 0, out
    assert json.loads(out)["fired"] == 0
    code, out = _cli(settings, "sweep", "no-such-job")
    assert code == 2 and "no system job" in out


def test_resume_and_delete_resolve_the_paused_alert(session: Session, now: datetime) -> None:
    from fleet.engine.blocks.registry import default_registry
    from fleet.testing import RecordingAlerts

    make_graph(session, now)
    a = add_schedule(session, now, user_id="alice", graph_id="g1", cron_expr="0 * * * *")
    b = add_schedule(session, now, user_id="alice", graph_id="g1", cron_expr="0 * * * *")
    alerts = RecordingAlerts()
    service.pause(session, a.id, "alice", now)
    service.resume(session, a.id, "alice", now, settings=Settings(_env_file=None),  # type: ignore[call-arg]
                   registry=default_registry(), alerts=alerts)
    service.delete(session, b.id, "alice", now, alerts=alerts)
    assert [(r["kind"], r["fingerprint"]) for r in alerts.resolved] == [
        ("schedule_paused", a.id), ("schedule_paused", b.id)]
