"""``fleet alerts`` and ``fleet notify`` against both databases."""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import Session
from typer.testing import CliRunner

from fleet.alerts.service import AlertService
from fleet.cli.context import CliContext
from fleet.cli.main import build_app
from fleet.settings import Settings
from fleet.store import alerts as store
from fleet.testing.alerts import RecordingChannel
from tests.integration.alerts.conftest import Endpoint

runner = CliRunner()


def _invoke(settings: Settings, *args: str) -> tuple[int, str]:
    ctx = CliContext(settings)
    try:
        result = runner.invoke(build_app(), list(args), obj=ctx)
    finally:
        ctx.close()
    return result.exit_code, result.output


def test_alerts_list(session: Session, now: datetime, settings: Settings) -> None:
    code, out = _invoke(settings, "alerts", "list")
    assert code == 0 and "no alerts recorded" in out
    svc = AlertService.from_settings(settings, channel=RecordingChannel())
    svc.fire(session, now, kind="late_executions", fingerprint="f1", message="3 late runs")
    code, out = _invoke(settings, "alerts", "list", "--json")  # as local: not addressed to it
    assert code == 0 and json.loads(out) == []
    code, out = _invoke(settings, "alerts", "list", "--operator", "--json")
    assert code == 0
    [row] = json.loads(out)
    assert (row["kind"], row["fingerprint"], row["state"], row["send_count"]) == (
        "late_executions", "f1", "firing", 1)
    code, out = _invoke(settings, "alerts", "list", "--operator")
    assert "late_executions" in out and "3 late runs" in out
    code, out = _invoke(settings, "alerts", "list", "--state", "bogus")
    assert code == 2 and "unknown state 'bogus'" in out


def test_alerts_test(settings: Settings, endpoint: Endpoint) -> None:
    code, out = _invoke(settings, "alerts", "test", "--tag", "ops")
    assert code == 1 and "no 'ops' notification URL is configured" in out
    s = settings.model_copy(update={"alert_urls_ops": [endpoint.url("ops")]})
    code, out = _invoke(s, "alerts", "test", "--tag", "ops", "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    assert endpoint.titles() == ["[fleet] test notification"]
    assert str(endpoint.port) not in out
    code, out = _invoke(s, "alerts", "test", "--tag", "pager")
    assert code == 2 and "unknown alert tag 'pager'" in out


def test_notify_set_show_clear(session: Session, settings: Settings) -> None:
    url = "discord://1234567/secret-token"
    code, out = _invoke(settings, "notify", "set", "--user", "alice", url, "--json")
    assert code == 0 and json.loads(out) == {"user_id": "alice", "urls": "discord://***",
                                             "weekly_summary": True}
    code, out = _invoke(settings, "notify", "show", "--user", "alice")
    assert code == 0 and "secret-token" not in out
    code, out = _invoke(settings, "notify", "show", "--user", "alice", "--reveal", "--json")
    assert json.loads(out)["urls"] == [url]
    code, out = _invoke(settings, "notify", "set", "--user", "alice", "--no-weekly-summary")
    assert code == 0
    row = store.get_notification(session, "alice")
    assert row is not None and row.urls == [url] and row.weekly_summary is False
    session.commit()
    code, out = _invoke(settings, "notify", "clear", "--user", "alice")
    assert code == 0 and store.get_notification(session, "alice") is None
    code, out = _invoke(settings, "notify", "clear", "--user", "alice")
    assert code == 2 and "no notification settings" in out


def test_notify_rejects_bad_urls_and_changes_nothing(session: Session,
                                                     settings: Settings) -> None:
    code, out = _invoke(settings, "notify", "set", "--user", "bob", "not-a-url",
                        "nosuchscheme://x/y")
    assert code == 2 and "invalid notification URL" in out
    assert "is not a URL" in out and "not a URL Apprise understands" in out
    assert store.get_notification(session, "bob") is None
    code, out = _invoke(settings, "notify", "set", "--user", "bob")
    assert code == 2 and "nothing to set" in out
