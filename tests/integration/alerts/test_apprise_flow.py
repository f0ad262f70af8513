"""The alert flow end to end: late executions through real Apprise to a local endpoint."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session

from fleet.alerts.service import AlertService
from fleet.ports import JobContext
from fleet.runs import leases
from fleet.settings import Settings
from fleet.store import alerts as alert_store
from fleet.sweeps import alert_delivery, late_executions
from tests.helpers import make_run
from tests.integration.alerts.conftest import Endpoint

TICK = timedelta(minutes=5)


def _ctx(settings: Settings, endpoint: Endpoint) -> JobContext:
    s = settings.model_copy(update={"alert_urls_ops": [endpoint.url("ops")],
                                    "late_lookback_s": 86_400.0, "alert_timeout_s": 3.0})
    return JobContext(settings=s, alerts=AlertService.from_settings(s))


def test_late_alert_flow_through_apprise(session: Session, now: datetime, settings: Settings,
                                         endpoint: Endpoint) -> None:
    ctx = _ctx(settings, endpoint)
    run_id = make_run(session, now - timedelta(minutes=10)).id
    for i in range(5):
        late_executions.run_once(session, now + TICK * i, ctx)
    assert endpoint.titles() == ["[fleet] FIRING: late_executions"]
    assert run_id in endpoint.posts[0]["message"] and endpoint.paths == ["/ops"]

    late_executions.run_once(session, now + timedelta(hours=1), ctx)  # the reminder is due
    assert endpoint.titles()[-1] == "[fleet] REMINDER: late_executions"
    for i in range(1, 4):
        late_executions.run_once(session, now + timedelta(hours=1) + TICK * i, ctx)
    assert len(endpoint.posts) == 2

    cleared = now + timedelta(hours=2)
    assert leases.claim(session, run_id, cleared, "rt-1") is not None
    for i in range(3):
        report = late_executions.run_once(session, cleared + TICK * i, ctx)
        assert report.message == "No late executions detected."
    assert endpoint.titles()[-1] == "[fleet] RESOLVED: late_executions"
    assert len(endpoint.posts) == 3


def test_endpoint_down_then_delivered_next_tick(session: Session, now: datetime,
                                                settings: Settings, endpoint: Endpoint,
                                                caplog: pytest.LogCaptureFixture) -> None:
    ctx = _ctx(settings, endpoint)
    make_run(session, now - timedelta(minutes=10))
    endpoint.down = True
    with caplog.at_level(logging.DEBUG):
        late_executions.run_once(session, now, ctx)
    assert endpoint.posts == []
    assert "JSON POST URL" in caplog.text  # Apprise did log its request...
    assert f"{endpoint.port}/ops" not in caplog.text and "POST /ops" not in caplog.text
    [row] = alert_store.list_alerts(session, kind=late_executions.KIND)
    assert row.pending_delivery and row.delivery_ok is False and row.send_count == 1
    assert row.delivery_result and str(endpoint.port) not in row.delivery_result
    endpoint.down = False
    late_executions.run_once(session, now + TICK, ctx)
    assert endpoint.titles() == ["[fleet] FIRING: late_executions"]
    session.refresh(row)
    assert not row.pending_delivery and row.delivery_ok is True
    late_executions.run_once(session, now + TICK * 2, ctx)
    assert len(endpoint.posts) == 1


def test_apprise_unreachable_port(session: Session, now: datetime, settings: Settings) -> None:
    ep = Endpoint()
    ep.close()  # nothing listens on this port any more
    ctx = _ctx(settings, ep)
    make_run(session, now - timedelta(minutes=10))
    late_executions.run_once(session, now, ctx)
    [row] = alert_store.list_alerts(session, kind=late_executions.KIND)
    assert row.pending_delivery and row.delivery_ok is False


def test_a_failing_endpoint_never_makes_a_working_one_repeat(
        session: Session, now: datetime, settings: Settings) -> None:
    works, fails = Endpoint(), Endpoint()
    fails.down = True
    try:
        s = settings.model_copy(update={"alert_urls_ops": [works.url("ops"), fails.url("ops")],
                                        "late_lookback_s": 86_400.0, "alert_timeout_s": 3.0})
        ctx = JobContext(settings=s, alerts=AlertService.from_settings(s))
        make_run(session, now - timedelta(minutes=10))
        for i in range(6):  # six ticks of the monitor and of the delivery job
            at = now + TICK * i
            late_executions.run_once(session, at, ctx)
            alert_delivery.run_once(session, at, ctx)
        assert works.titles() == ["[fleet] FIRING: late_executions"] and fails.posts == []
        fails.down = False
        for i in range(6, 12):
            at = now + TICK * i
            late_executions.run_once(session, at, ctx)
            alert_delivery.run_once(session, at, ctx)
        assert works.titles() == ["[fleet] FIRING: late_executions"]
        assert fails.titles() == ["[fleet] FIRING: late_executions"]
    finally:
        works.close()
        fails.close()
