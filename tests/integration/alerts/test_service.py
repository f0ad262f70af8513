"""The alert service on SQLite and PostgreSQL with the recording channel."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session

from fleet.alerts.service import AlertService
from fleet.errors import InvalidInput
from fleet.settings import Settings
from fleet.store import alerts as store
from fleet.testing.alerts import RecordingChannel

OPS = "discord://1234567/secret-webhook-token"


def _service(settings: Settings, channel: RecordingChannel, **urls: list[str]) -> AlertService:
    update = {"alert_urls_ops": urls.get("ops", [OPS]),
              "alert_urls_product": urls.get("product", [])}
    return AlertService.from_settings(settings.model_copy(update=update), channel=channel)


def _fire(svc: AlertService, session: Session, at: datetime, fp: str = "fp1",
          msg: str = "it broke") -> None:
    svc.fire(session, at, kind="k", fingerprint=fp, message=msg)


def test_fire_dedups_and_reminds_at_interval(session: Session, now: datetime,
                                             settings: Settings) -> None:
    ch = RecordingChannel()
    svc = _service(settings, ch)
    for i in range(5):
        _fire(svc, session, now + timedelta(seconds=i))
    assert ch.titles() == ["[fleet] FIRING: k"] and ch.sent[0].urls == (OPS,)
    _fire(svc, session, now + timedelta(seconds=3599))
    assert len(ch.sent) == 1
    _fire(svc, session, now + timedelta(seconds=3600), msg="still broken")  # exactly due
    assert ch.titles()[-1] == "[fleet] REMINDER: k" and ch.sent[-1].body == "still broken"
    row = store.get(session, "k", "fp1")
    assert row is not None and (row.send_count, row.state, row.delivery_ok) == (2, "firing", True)
    assert row.first_seen_at == now and row.last_sent_at == now + timedelta(seconds=3600)


def test_distinct_fingerprints_are_distinct_incidents(session: Session, now: datetime,
                                                      settings: Settings) -> None:
    ch = RecordingChannel()
    svc = _service(settings, ch)
    _fire(svc, session, now, "a")
    _fire(svc, session, now, "b")
    assert len(ch.sent) == 2


def test_resolve_once_and_refire(session: Session, now: datetime, settings: Settings) -> None:
    ch = RecordingChannel()
    svc = _service(settings, ch)
    _fire(svc, session, now)
    for i in range(3):
        svc.resolve(session, now + timedelta(minutes=1 + i), kind="k", message="all good")
    assert ch.titles() == ["[fleet] FIRING: k", "[fleet] RESOLVED: k"]
    assert ch.sent[1].body == "all good"
    row = store.get(session, "k", "fp1")
    assert row is not None and row.state == "resolved" and row.resolved_at == now + \
        timedelta(minutes=1)
    _fire(svc, session, now + timedelta(minutes=5))  # a new incident: sent at once
    assert ch.titles()[-1] == "[fleet] FIRING: k"
    assert svc.resolve(session, now, kind="nothing-firing", message="x").fingerprints == []


def test_failed_delivery_recorded_and_retried(session: Session, now: datetime,
                                              settings: Settings,
                                              caplog: pytest.LogCaptureFixture) -> None:
    ch = RecordingChannel(fail=True)
    svc = _service(settings, ch)
    with caplog.at_level(logging.INFO):
        _fire(svc, session, now)
    row = store.get(session, "k", "fp1")
    assert row is not None and row.pending_delivery and row.delivery_ok is False
    assert row.delivery_result and "unavailable" in row.delivery_result
    assert ch.attempts == 1
    ch.fail = False
    svc.deliver_pending(session, now + timedelta(seconds=10))  # before retry_s: not yet
    assert ch.sent == []
    svc.deliver_pending(session, now + timedelta(seconds=31))
    assert ch.titles() == ["[fleet] FIRING: k"]
    row = store.get(session, "k", "fp1")
    assert row is not None and not row.pending_delivery and row.delivery_ok is True
    assert "secret-webhook-token" not in caplog.text and "1234567" not in caplog.text


def test_no_url_configured_is_recorded_and_logged(session: Session, now: datetime,
                                                  settings: Settings,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    ch = RecordingChannel()
    svc = _service(settings, ch, ops=[])
    with caplog.at_level(logging.WARNING, logger="fleet.alerts"):
        _fire(svc, session, now, msg="nobody listens")
    assert ch.attempts == 0
    row = store.get(session, "k", "fp1")
    assert row is not None and not row.pending_delivery and row.delivery_ok is None
    assert row.delivery_result == "no 'ops' URL configured; logged only"
    assert "nobody listens" in caplog.text


def test_user_tag_uses_notification_settings(session: Session, now: datetime,
                                             settings: Settings) -> None:
    ch = RecordingChannel()
    svc = _service(settings, ch)
    store.set_notification(session, "alice", now, urls=["json://alice.example/x"])
    session.commit()
    svc.fire(session, now, kind="k", fingerprint="u", message="m", tag="user", user_id="alice")
    assert ch.sent[0].urls == ("json://alice.example/x",)


def test_bad_destination_changes_nothing(session: Session, now: datetime,
                                         settings: Settings) -> None:
    svc = _service(settings, RecordingChannel())
    with pytest.raises(InvalidInput) as err:
        svc.fire(session, now, kind="k", fingerprint="f", message="m", tag="pager")
    assert "unknown alert tag 'pager'" in err.value.problems[0]
    with pytest.raises(InvalidInput):
        svc.fire(session, now, kind="k", fingerprint="f", message="m", tag="user")
    assert store.list_alerts(session) == []


def test_notice_sent_once(session: Session, now: datetime, settings: Settings) -> None:
    ch = RecordingChannel()
    svc = _service(settings, ch)
    for i in range(3):
        svc.notify(session, now + timedelta(hours=i * 2), kind="summary", fingerprint="day1",
                   message="hello")
    assert ch.titles() == ["[fleet] summary"]
    assert store.list_alerts(session)[0].state == "notice"


def test_a_dead_destination_is_retried_alone_with_backoff(session: Session, now: datetime,
                                                          settings: Settings) -> None:
    ch = RecordingChannel()
    good, dead = "json://good.example/hook", "json://dead.example/hook"
    ch.fail_urls = {dead}
    svc = _service(settings, ch, ops=[good, dead])
    _fire(svc, session, now)
    assert [s.urls for s in ch.sent] == [(good,)]
    # The delivery job every minute: the dead one is retried on its own, backing off
    # 30 s, 60 s, 120 s...; the working one never gets the alert again.
    tries = []
    for minute in range(1, 16):
        attempts = ch.attempts
        svc.deliver(session, now + timedelta(minutes=minute))
        if ch.attempts > attempts:
            tries.append(minute)
    assert tries == [1, 2, 4, 8], tries
    assert [s.urls for s in ch.sent] == [(good,)]
    row = store.get(session, "k", "fp1")
    assert row is not None and row.pending_delivery and row.last_sent_at == now
    ch.fail_urls.clear()
    svc.deliver(session, now + timedelta(minutes=17))
    assert [s.urls for s in ch.sent] == [(good,), (dead,)]
    row = store.get(session, "k", "fp1")
    assert row is not None and not row.pending_delivery
    assert row.last_sent_at == now + timedelta(minutes=17)  # the last successful send
    assert {d.state for d in store.deliveries(session, row.id)} == {"sent"}


def test_a_destination_is_given_up_after_a_day(session: Session, now: datetime,
                                               settings: Settings,
                                               caplog: pytest.LogCaptureFixture) -> None:
    ch = RecordingChannel()
    ch.fail_urls = {OPS}
    svc = _service(settings, ch)
    _fire(svc, session, now)
    with caplog.at_level(logging.ERROR):
        for hour in range(1, 26):
            svc.deliver(session, now + timedelta(hours=hour))
    [delivery] = store.deliveries(session, store.get(session, "k", "fp1").id)  # type: ignore
    assert delivery.state == "gave_up" and delivery.attempts >= 20
    assert any("given up" in r.getMessage() for r in caplog.records)
    assert "secret-webhook-token" not in caplog.text
    assert store.delivery_counts(session)["gave_up"] == 1
    before = ch.attempts
    svc.deliver(session, now + timedelta(hours=30))
    assert ch.attempts == before


def test_test_send(session: Session, settings: Settings) -> None:
    ch = RecordingChannel()
    svc = _service(settings, ch, product=[])
    assert svc.test("ops").ok and ch.sent[0].title == "[fleet] test notification"
    result = svc.test("product")
    assert not result.ok and "no 'product' notification URL" in result.detail
    with pytest.raises(InvalidInput):
        svc.test("nope")


def test_channel_exception_is_a_failed_delivery(session: Session, now: datetime,
                                                settings: Settings) -> None:
    class Exploding(RecordingChannel):
        def send(self, urls, title, body):  # type: ignore[no-untyped-def]
            raise RuntimeError(f"cannot reach {urls[0]}")

    svc = _service(settings, Exploding())
    _fire(svc, session, now)
    row = store.get(session, "k", "fp1")
    assert row is not None and row.delivery_ok is False and row.pending_delivery
    assert row.delivery_result and "secret-webhook-token" not in row.delivery_result
