"""The Apprise channel's failure paths and the optional Sentry hook (no server needed)."""

from __future__ import annotations

import logging
import sys
import types

import pytest

from fleet.alerts.channels import AppriseChannel
from fleet.alerts.service import sentry_hook
from fleet.testing.alerts import RecordingChannel


def test_apprise_rejects_unknown_scheme_without_leaking() -> None:
    result = AppriseChannel(timeout_s=1).send(["nosuchscheme://secret-id/secret-token"],
                                              "t", "b")
    assert not result.ok and "no valid notification URL" in result.detail
    assert "secret" not in result.detail


def test_sentry_only_with_a_dsn(monkeypatch: pytest.MonkeyPatch,
                                caplog: pytest.LogCaptureFixture) -> None:
    assert sentry_hook(None) is None and sentry_hook("") is None
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)  # not installed
    with caplog.at_level(logging.WARNING):
        assert sentry_hook("https://key@sentry.example/1") is None
    assert "sentry-sdk is not installed" in caplog.text


def test_recording_channel_fail_flag() -> None:
    ch = RecordingChannel(fail=True)
    assert not ch.send(["x://y"], "t", "b").ok and ch.sent == [] and ch.attempts == 1
    ch.fail = False
    assert ch.send(["x://y"], "t", "b").ok and ch.titles() == ["t"]


def test_sentry_captures_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, object]] = []
    fake = types.SimpleNamespace(
        init=lambda dsn: calls.append(("init", dsn)),
        capture_message=lambda msg, level: calls.append((level, msg)))
    monkeypatch.setitem(sys.modules, "sentry_sdk", fake)
    hook = sentry_hook("https://key@sentry.example/1")
    assert hook is not None
    hook("late_executions firing", "see discord://id/token")
    assert calls == [("init", "https://key@sentry.example/1"),
                     ("warning", "late_executions firing: see discord://***")]
