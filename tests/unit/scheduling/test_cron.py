"""Cron parsing and fire times: Debian's DST rules, day-of-week, plain words."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fleet.errors import InvalidInput
from fleet.scheduling import cron


def _fires_between(expr: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    e = cron.parse(expr, tz)
    out = []
    for t in e.iter_after(start - timedelta(microseconds=1)):
        if t >= end:
            break
        out.append(t)
    return out


def _local_day(tz: str, day: date) -> tuple[datetime, datetime]:
    z = ZoneInfo(tz)
    start = datetime(day.year, day.month, day.day, tzinfo=z).astimezone(UTC)
    nxt = day + timedelta(days=1)
    return start, datetime(nxt.year, nxt.month, nxt.day, tzinfo=z).astimezone(UTC)


def _local(t: datetime, tz: str) -> datetime:
    return t.astimezone(ZoneInfo(tz))


# --- DST: fixed minute and hour (wall-clock appointments) --------------------------------


def test_new_york_0230_on_spring_forward_fires_at_0300_edt() -> None:
    tz = "America/New_York"
    fires = _fires_between("30 2 * * *", tz, datetime(2026, 3, 7, tzinfo=UTC),
                           datetime(2026, 3, 10, tzinfo=UTC))
    local = [_local(t, tz) for t in fires]
    assert [(d.day, d.hour, d.minute) for d in local] == [(7, 2, 30), (8, 3, 0), (9, 2, 30)]
    assert fires[1] == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT = 07:00Z
    assert local[1].utcoffset() == timedelta(hours=-4)


def test_new_york_0130_on_fall_back_fires_once_at_first_occurrence() -> None:
    tz = "America/New_York"
    fires = _fires_between("30 1 * * *", tz, datetime(2026, 10, 31, tzinfo=UTC),
                           datetime(2026, 11, 3, tzinfo=UTC))
    assert fires == [datetime(2026, 10, 31, 5, 30, tzinfo=UTC),
                     datetime(2026, 11, 1, 5, 30, tzinfo=UTC),   # 01:30 EDT, the first one
                     datetime(2026, 11, 2, 6, 30, tzinfo=UTC)]
    # Asking from inside the repeated hour does not fire 01:30 EST again.
    e = cron.parse("30 1 * * *", tz)
    assert e.next_after(datetime(2026, 11, 1, 6, 0, tzinfo=UTC)) == \
        datetime(2026, 11, 2, 6, 30, tzinfo=UTC)


def test_several_skipped_times_collapse_into_one_fire() -> None:
    tz = "America/New_York"
    fires = _fires_between("0,30 2,3 * * *", tz, datetime(2026, 3, 8, 5, tzinfo=UTC),
                           datetime(2026, 3, 8, 12, tzinfo=UTC))
    assert [_local(t, tz).strftime("%H:%M") for t in fires] == ["03:00", "03:30"]


def test_lord_howe_0215_across_its_30_minute_transitions() -> None:
    tz = "Australia/Lord_Howe"
    for start, gap_day in ((date(2026, 10, 2), date(2026, 10, 4)),
                           (date(2026, 4, 2), None)):
        fires = _fires_between("15 2 * * *", tz, _local_day(tz, start)[0],
                               _local_day(tz, start + timedelta(days=4))[0])
        local = [_local(t, tz) for t in fires]
        assert [d.date() for d in local] == [start + timedelta(days=i) for i in range(4)]
        for d in local:
            expected = "02:30" if d.date() == gap_day else "02:15"
            assert d.strftime("%H:%M") == expected, d


def test_lord_howe_repeated_half_hour_fires_once() -> None:
    tz = "Australia/Lord_Howe"  # 2026-04-05 02:00 LHDT -> 01:30 LHST
    fires = _fires_between("45 1 * * *", tz, *_local_day(tz, date(2026, 4, 5)))
    assert len(fires) == 1 and _local(fires[0], tz).utcoffset() == timedelta(hours=11)


def test_chatham_odd_offset_transitions() -> None:
    tz = "Pacific/Chatham"  # 02:45 -> 03:45 on 2026-09-27; 03:45 -> 02:45 on 2026-04-05
    spring = _fires_between("0 3 * * *", tz, *_local_day(tz, date(2026, 9, 27)))
    assert [_local(t, tz).strftime("%H:%M%z") for t in spring] == ["03:45+1345"]
    autumn = _fires_between("0 3 * * *", tz, *_local_day(tz, date(2026, 4, 5)))
    assert [_local(t, tz).strftime("%H:%M%z") for t in autumn] == ["03:00+1345"]


def test_kolkata_half_hour_offset() -> None:
    fires = cron.parse("0 9 * * *", "Asia/Kolkata").next_n(datetime(2026, 1, 1, tzinfo=UTC), 2)
    assert fires == [datetime(2026, 1, 1, 3, 30, tzinfo=UTC), datetime(2026, 1, 2, 3, 30,
                                                                      tzinfo=UTC)]


# --- DST: minute or hour starting with * (real time) ----------------------------------


@pytest.mark.parametrize(("day", "expected"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25),
                                               (date(2026, 6, 1), 24)])
def test_paris_hourly_follows_real_time(day: date, expected: int) -> None:
    tz = "Europe/Paris"
    fires = _fires_between("0 * * * *", tz, *_local_day(tz, day))
    assert len(fires) == expected
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(fires))


def test_new_york_hourly_fires_twice_in_repeated_hour_never_in_skipped() -> None:
    tz = "America/New_York"
    back = _fires_between("0 * * * *", tz, *_local_day(tz, date(2026, 11, 1)))
    assert Counter(_local(t, tz).hour for t in back)[1] == 2
    fwd = _fires_between("0 * * * *", tz, *_local_day(tz, date(2026, 3, 8)))
    assert 2 not in {_local(t, tz).hour for t in fwd} and len(fwd) == 23


def _brute_force(expr: cron.CronExpr, start: datetime, end: datetime) -> list[datetime]:
    """Every UTC minute whose local wall time matches: the definition of real time."""
    out, t = [], start
    while t < end:
        wall = t.astimezone(expr.tz)
        if (wall.minute in expr.minutes and wall.hour in expr.hours
                and wall.month in expr.months and expr._day_matches(wall.date())):
            out.append(t)
        t += timedelta(minutes=1)
    return out


@pytest.mark.parametrize(("expr", "tz", "start"), [
    ("*/15 * * * *", "Australia/Lord_Howe", datetime(2026, 10, 3, 12, tzinfo=UTC)),
    ("*/15 * * * *", "Australia/Lord_Howe", datetime(2026, 4, 4, 12, tzinfo=UTC)),
    ("5 * * * *", "Pacific/Chatham", datetime(2026, 9, 26, 10, tzinfo=UTC)),
    ("*/7 1-3 * * *", "America/New_York", datetime(2026, 11, 1, 3, tzinfo=UTC)),
    ("* 2 * * *", "Europe/Paris", datetime(2026, 3, 28, 20, tzinfo=UTC)),
])
def test_real_time_matches_minute_by_minute_definition(expr: str, tz: str,
                                                       start: datetime) -> None:
    e = cron.parse(expr, tz)
    end = start + timedelta(hours=36)
    assert _fires_between(expr, tz, start, end) == _brute_force(e, start, end)


def test_daily_fixed_fires_exactly_once_per_local_day_in_zones_with_dst() -> None:
    zones = ["America/New_York", "Europe/Paris", "Australia/Lord_Howe", "Pacific/Chatham",
             "America/Santiago", "Asia/Tehran", "Africa/Casablanca", "America/St_Johns",
             "Europe/Dublin", "Antarctica/Troll"]
    for tz in zones:
        for expr in ("30 2 * * *", "0 1 * * *", "59 23 * * *"):
            fires = _fires_between(expr, tz, datetime(2026, 1, 1, tzinfo=UTC),
                                   datetime(2027, 1, 1, tzinfo=UTC))
            days = [_local(t, tz).date() for t in fires]
            assert len(days) == len(set(days)), (tz, expr)
            assert len(days) in (364, 365, 366), (tz, expr, len(days))
            assert all(b > a for a, b in itertools.pairwise(fires))


# --- day-of-week ------------------------------------------------------------------------


@pytest.mark.parametrize("dow", ["0", "7", "sun", "SUN", "7,0"])
def test_sunday_spellings_fire_on_sundays(dow: str) -> None:
    fires = cron.parse(f"0 9 * * {dow}", "UTC").next_n(datetime(2026, 4, 1, tzinfo=UTC), 4)
    assert [f.date() for f in fires] == [date(2026, 4, 5), date(2026, 4, 12),
                                         date(2026, 4, 19), date(2026, 4, 26)]
    assert all(f.isoweekday() == 7 for f in fires)


def test_weekly_macro_fires_on_sunday() -> None:
    fires = cron.parse("@weekly", "UTC").next_n(datetime(2026, 4, 1, tzinfo=UTC), 2)
    assert [f.isoweekday() for f in fires] == [7, 7]


def test_mon_fri() -> None:
    fires = cron.parse("0 9 * * mon-fri", "UTC").next_n(datetime(2026, 4, 3, 10, tzinfo=UTC), 6)
    assert [f.date().isoformat() for f in fires] == [
        "2026-04-06", "2026-04-07", "2026-04-08", "2026-04-09", "2026-04-10", "2026-04-13"]


@pytest.mark.parametrize("dow", ["5-2", "fri-tue"])
def test_wrap_around_day_range(dow: str) -> None:
    fires = cron.parse(f"0 0 * * {dow}", "UTC").next_n(datetime(2026, 4, 1, tzinfo=UTC), 6)
    assert [f.strftime("%a") for f in fires] == ["Fri", "Sat", "Sun", "Mon", "Tue", "Fri"]


def test_dom_and_dow_both_restricted_means_either() -> None:
    fires = cron.parse("0 0 13 * fri", "UTC").next_n(datetime(2026, 2, 1, tzinfo=UTC), 6)
    assert all(f.day == 13 or f.isoweekday() == 5 for f in fires)
    assert date(2026, 2, 13) in {f.date() for f in fires}  # a Friday the 13th, once
    assert date(2026, 2, 6) in {f.date() for f in fires}


def test_dom_starting_with_star_means_both() -> None:
    fires = cron.parse("0 0 */2 * mon", "UTC").next_n(datetime(2026, 1, 1, tzinfo=UTC), 5)
    assert all(f.day % 2 == 1 and f.isoweekday() == 1 for f in fires)


def test_names_steps_and_ranges() -> None:
    e = cron.parse("5-20/5 */6 1,15 jan,jul *", "UTC")
    assert e.minutes == (5, 10, 15, 20) and e.hours == (0, 6, 12, 18)
    assert e.months == (1, 7) and e.days == frozenset({1, 15})
    assert cron.parse("10/20 * * * *").minutes == (10, 30, 50)


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(("expr", "fragment"), [
    ("61 * * * *", "within 0-59"),
    ("* * *", "expected 5 fields"),
    ("0 0 30 2 *", "never fires"),
    ("0 0 * * 8", "within 0-7"),
    ("*/0 * * * *", "step"),
    ("0 0 5-1 * *", "runs backwards"),
    ("0 0 * foo *", "not a number or a name"),
    ("@reboot", "unknown macro"),
])
def test_invalid_expressions_are_refused_with_the_problem_named(expr: str,
                                                                 fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        cron.parse(expr, "UTC")
    assert any(fragment in p for p in info.value.problems), info.value.problems


def test_every_problem_is_listed() -> None:
    problems = cron.validate("99 99 * * *", "Nowhere/Land")
    assert len(problems) == 3
    assert any("Nowhere/Land" in p for p in problems)


# --- plain words ----------------------------------------------------------------------------


@pytest.mark.parametrize(("expr", "words"), [
    ("* * * * *", "every minute (UTC)"),
    ("*/15 * * * *", "every 15 minutes, every day (UTC)"),
    ("0 * * * *", "every hour, every day (UTC)"),
    ("30 2 * * *", "at 02:30, every day (UTC)"),
    ("0 9 * * 1-5", "at 09:00, on weekdays (UTC)"),
    ("0 9 * * 0", "at 09:00, on Sunday (UTC)"),
    ("0 9,17 1 * *", "at 09:00 and 17:00, on day 1 of the month (UTC)"),
    ("0 0 1 1 *", "at 00:00, on day 1 of the month, in January (UTC)"),
    ("0 0 13 * 5", "at 00:00, on day 13 of the month or on Friday (UTC)"),
])
def test_describe(expr: str, words: str) -> None:
    assert cron.parse(expr, "UTC").describe() == words
