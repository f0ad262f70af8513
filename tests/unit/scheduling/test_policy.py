"""The dispatcher's pure rule: catch-up and overlap decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fleet.scheduling import cron
from fleet.scheduling.policy import Plan, plan

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
EVERY_15 = cron.parse("*/15 * * * *", "UTC")


def _plan(next_run_at: datetime, **kw: object) -> Plan:
    args: dict[str, object] = {"catchup": "latest", "window_s": 3600, "grace_s": 120,
                               "overlap": "skip", "active": False, "buffered_for": None,
                               "max_fires": 100}
    args.update(kw)
    return plan(EVERY_15, next_run_at, NOW, **args)  # type: ignore[arg-type]


def test_on_time_fire_under_every_policy() -> None:
    for catchup in ("latest", "all", "skip"):
        p = _plan(NOW, catchup=catchup)
        assert p.fire == [NOW] and p.missed == [] and p.next_run_at == NOW + timedelta(minutes=15)


def test_slightly_late_tick_still_fires_under_skip() -> None:
    p = plan(EVERY_15, NOW, NOW + timedelta(seconds=50), catchup="skip", window_s=3600,
             grace_s=120, overlap="skip", active=False, buffered_for=None, max_fires=100)
    assert p.fire == [NOW]


def test_three_hours_down() -> None:
    start = NOW - timedelta(hours=3)
    latest = _plan(start, catchup="latest")
    assert latest.fire == [NOW]
    assert len(latest.missed) == 12
    every = _plan(start, catchup="all")
    window = [NOW - timedelta(minutes=m) for m in (60, 45, 30, 15, 0)]
    assert every.fire == window
    assert len(every.missed) == 8
    skip = _plan(start, catchup="skip")
    # `now` itself is on time; everything before it was missed.
    assert skip.fire == [NOW] and len(skip.missed) == 12


def test_skip_fires_nothing_when_the_latest_instant_is_late() -> None:
    p = plan(EVERY_15, NOW - timedelta(hours=3), NOW + timedelta(minutes=5), catchup="skip",
             window_s=3600, grace_s=120, overlap="skip", active=False, buffered_for=None,
             max_fires=100)
    assert p.fire == [] and len(p.missed) == 13


def test_misses_beyond_the_cap_are_summarised() -> None:
    p = _plan(NOW - timedelta(days=30), catchup="latest", max_fires=5)
    assert p.fire == [NOW]
    older = [m for m in p.missed if "catch-up window" in m[1]]
    assert len(older) == 5 and "not listed" in older[-1][1]


def test_overlap_policies() -> None:
    assert _plan(NOW, active=True, overlap="skip").skipped[0][0] == NOW
    assert _plan(NOW, active=True, overlap="allow").fire == [NOW]
    cancel = _plan(NOW, active=True, overlap="cancel_previous")
    assert cancel.fire == [NOW] and cancel.cancel_active
    buffered = _plan(NOW, active=True, overlap="buffer_one")
    assert buffered.fire == [] and buffered.buffered_for == NOW
    full = _plan(NOW, active=True, overlap="buffer_one", buffered_for=NOW - timedelta(minutes=15))
    assert full.buffered_for == NOW - timedelta(minutes=15)
    assert [s[0] for s in full.skipped] == [NOW]


def test_buffer_released_when_active_run_ended() -> None:
    held = NOW - timedelta(minutes=15)
    p = plan(EVERY_15, NOW + timedelta(minutes=15), NOW + timedelta(minutes=3), catchup="latest",
             window_s=3600, grace_s=120, overlap="buffer_one", active=False, buffered_for=held,
             max_fires=100)
    assert p.fire == [held] and p.buffered_for is None
