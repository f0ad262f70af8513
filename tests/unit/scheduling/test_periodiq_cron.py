"""The periodiq wrapper: Sunday specs fire on Sundays through periodiq's own scheduler."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pendulum
import periodiq
import pytest

from fleet.errors import InvalidInput
from fleet.worker.periodiq_cron import normalize

SUNDAY_9 = pendulum.datetime(2026, 4, 5, 9, 0, tz="UTC")  # a Sunday
MONDAY_9 = pendulum.datetime(2026, 4, 6, 9, 0, tz="UTC")


class _Actor:
    """Enough of a Dramatiq actor for periodiq's Scheduler."""

    def __init__(self, spec: Any) -> None:
        self.options = {"periodic": spec}
        self.sent: list[str] = []

    def send_with_options(self, **options: Any) -> None:
        self.sent.append(options["scheduled_at"])


def _tick(monkeypatch: pytest.MonkeyPatch, spec: Any, at: pendulum.DateTime) -> _Actor:
    """One wake-up of periodiq's Scheduler at ``at``: its clock fixed, alarm and sleep disarmed."""
    monkeypatch.setattr(periodiq, "alarm", lambda _s: None)
    monkeypatch.setattr(periodiq, "signal", lambda *_a: None)
    monkeypatch.setattr(periodiq, "sleep", lambda _s: None)
    monkeypatch.setattr(periodiq, "pendulum", SimpleNamespace(now=lambda: at))
    actor = _Actor(spec)
    periodiq.Scheduler(actors=[actor]).schedule()
    return actor


def test_raw_periodiq_never_fires_sunday_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    # The bug the wrapper exists for (SPEC §11); if periodiq fixes it this fails.
    assert _tick(monkeypatch, periodiq.cron("0 9 * * 0"), SUNDAY_9).sent == []
    assert _tick(monkeypatch, periodiq.cron("@weekly"), pendulum.datetime(2026, 4, 5,
                                                                         tz="UTC")).sent == []


@pytest.mark.parametrize("spec", ["0 9 * * 0", "0 9 * * 7", "0 9 * * sun", "0 9 * * SUN",
                                  "0 9 * * 5-0", "0 9 * * sat-sun"])
def test_sunday_spec_fires_on_sunday(monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    assert len(_tick(monkeypatch, normalize(spec), SUNDAY_9).sent) == 1
    assert _tick(monkeypatch, normalize(spec), MONDAY_9).sent == []


def test_weekly_fires_on_sunday_midnight(monkeypatch: pytest.MonkeyPatch) -> None:
    midnight = pendulum.datetime(2026, 4, 5, tz="UTC")
    assert len(_tick(monkeypatch, normalize("@weekly"), midnight).sent) == 1


def test_weekday_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    weekdays = normalize("0 9 * * mon-fri")
    assert len(_tick(monkeypatch, weekdays, MONDAY_9).sent) == 1
    assert _tick(monkeypatch, weekdays, SUNDAY_9).sent == []
    assert len(_tick(monkeypatch, normalize("0 9 * * 1"), MONDAY_9).sent) == 1


def test_next_valid_date_from_saturday_is_sunday() -> None:
    saturday = pendulum.datetime(2026, 4, 4, 10, 0, tz="UTC")
    assert normalize("0 9 * * 0").next_valid_date(saturday) == SUNDAY_9


def test_six_days_including_sunday_stay_restricted() -> None:
    spec = normalize("0 9 * * 0-5")
    assert spec.is_dow_restricted
    saturday = pendulum.datetime(2026, 4, 4, 9, 0, tz="UTC")
    assert not spec.validate(saturday) and spec.validate(SUNDAY_9)


def test_every_minute_and_dom_star_semantics() -> None:
    assert normalize("* * * * *").validate(SUNDAY_9)
    every_other = normalize("0 9 */2 * mon")  # starred day-of-month: both must match
    assert not every_other.validate(MONDAY_9)  # the 6th is even
    assert every_other.validate(pendulum.datetime(2026, 4, 13, 9, tz="UTC"))


def test_bad_spec_is_refused() -> None:
    with pytest.raises(InvalidInput):
        normalize("0 9 * * funday")
