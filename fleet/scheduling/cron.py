"""Five-field cron expressions: parsing, fire times in a timezone, plain words.

Fire times follow Debian cron's DST rules (SPEC §7):

- **fixed** expressions (neither the minute nor the hour field starts with
  ``*``) are wall-clock appointments: a local time skipped by a spring-forward
  fires once, at the first valid minute after the gap; a local time that occurs
  twice fires once, at its first occurrence.
- **real-time** expressions (the minute or the hour field starts with ``*``)
  fire at every real instant whose local time matches: ``0 * * * *`` fires
  every real hour, twice through a repeated hour, never inside a skipped one.

Every instant handed out is an aware UTC datetime. :meth:`CronExpr.next_after`
is the one function that both ``preview`` and the dispatcher use.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fleet.clock import as_utc
from fleet.errors import InvalidInput

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun",
               "jul", "aug", "sep", "oct", "nov", "dec")
DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTH_WORDS = ("January", "February", "March", "April", "May", "June", "July",
               "August", "September", "October", "November", "December")
DOW_WORDS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_FIELDS = (  # name, low, high, names
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day-of-month", 1, 31, None),
    ("month", 1, 12, MONTH_NAMES),
    ("day-of-week", 0, 7, DOW_NAMES),
)

_MINUTE = timedelta(minutes=1)
# The search for the next offset change probes at this step: it assumes no
# zone changes its offset twice within a week (true of tzdata's modern rules).
_PROBE = timedelta(days=7)
_SEARCH_YEARS = 30  # Feb 29 on a Monday recurs within 28 years


def _parse_field(text: str, index: int, problems: list[str]) -> tuple[frozenset[int], bool]:
    """Expand one field into its set of values; returns (values, starts_with_star)."""
    name, low, high, names = _FIELDS[index]
    values: set[int] = set()
    star = text.startswith("*")

    def number(token: str) -> int | None:
        token = token.strip().lower()
        if names is not None and token in names:
            return names.index(token) + (1 if index == 3 else 0)
        if token.isdigit():
            return int(token)
        problems.append(f"{name} field '{text}': '{token}' is not a number"
                        + (f" or a name ({', '.join(names)})" if names else ""))
        return None

    for part in text.split(","):
        if part == "":
            problems.append(f"{name} field '{text}': empty list item")
            continue
        range_text, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                problems.append(f"{name} field '{text}': step '{step_text}' must be a "
                                "positive whole number")
                continue
            step = int(step_text)
        if range_text == "*":
            start, end = low, (6 if index == 4 else high)
        else:
            first, dash, last = range_text.partition("-")
            a = number(first)
            b = number(last) if dash else None
            if a is None or (dash and b is None):
                continue
            start = a
            # "a/step" means from a to the end of the field (as cronie does).
            end = b if b is not None else (high if slash else a)
        if not (low <= start <= high and low <= end <= high):
            problems.append(f"{name} field '{text}': values must be within {low}-{high}")
            continue
        if end < start:
            if index != 4:
                problems.append(f"{name} field '{text}': range {start}-{end} runs backwards "
                                "(wrap-around is only supported for day-of-week)")
                continue
            # Day-of-week wrap-around: fri-tue is fri, sat, sun, mon, tue.
            span = [d % 7 for d in range(start, end + 8)]
            values.update(span[::step])
            continue
        values.update(range(start, end + 1, step))
    if index == 4:
        values = {v % 7 for v in values}  # 7 is Sunday, like 0
    return frozenset(values), star


@dataclass(frozen=True)
class CronExpr:
    """A parsed five-field cron expression in one IANA timezone."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: tuple[int, ...]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday
    dom_star: bool
    dow_star: bool
    minute_star: bool
    hour_star: bool
    tz: ZoneInfo

    @property
    def timezone(self) -> str:
        """The IANA name of the expression's timezone."""
        return self.tz.key

    @property
    def real_time(self) -> bool:
        """Whether fires follow real time (minute or hour field starts with ``*``)."""
        return self.minute_star or self.hour_star

    # --- wall-clock matching (naive local datetimes) --------------------------

    def _day_matches(self, d: date) -> bool:
        dom_ok = d.day in self.days
        dow_ok = (d.weekday() + 1) % 7 in self.weekdays
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok  # both restricted: either matches (cron's rule)

    def _next_wall(self, start: datetime, inclusive: bool) -> datetime | None:
        """The first naive wall time matching the fields at or after (or after) ``start``."""
        t = start.replace(second=0, microsecond=0)
        if t < start or not inclusive:
            t += _MINUTE
        limit_year = t.year + _SEARCH_YEARS
        while t.year <= limit_year:
            if t.month not in self.months:
                i = bisect.bisect_right(self.months, t.month)
                if i < len(self.months):
                    t = datetime(t.year, self.months[i], 1)
                else:
                    t = datetime(t.year + 1, self.months[0], 1)
                continue
            if not self._day_matches(t.date()):
                t = datetime(t.year, t.month, t.day) + timedelta(days=1)
                continue
            if t.hour not in self.hours:
                i = bisect.bisect_right(self.hours, t.hour)
                if i < len(self.hours):
                    t = t.replace(hour=self.hours[i], minute=0)
                else:
                    t = datetime(t.year, t.month, t.day) + timedelta(days=1)
                continue
            if t.minute not in self.minutes:
                i = bisect.bisect_right(self.minutes, t.minute)
                if i < len(self.minutes):
                    t = t.replace(minute=self.minutes[i])
                else:
                    t = t.replace(minute=0) + timedelta(hours=1)
                continue
            return t
        return None

    # --- instants --------------------------------------------------------------

    def _offset(self, instant: datetime) -> timedelta:
        off = instant.astimezone(self.tz).utcoffset()
        assert off is not None
        return off

    def _first_change(self, a: datetime, b: datetime, off: timedelta) -> datetime | None:
        """The first instant in ``(a, b]`` whose UTC offset differs from ``off``, or None."""
        prev = a
        probe = a
        while probe < b:
            probe = min(probe + _PROBE, b)
            if self._offset(probe) != off:
                return self._bisect_change(prev, probe, off)
            prev = probe
        return None

    def _bisect_change(self, lo_dt: datetime, hi_dt: datetime, off: timedelta) -> datetime:
        # Offsets change on whole seconds; search epoch seconds.
        lo = int(lo_dt.timestamp() // 1)
        hi = -int(-hi_dt.timestamp() // 1)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._offset(datetime.fromtimestamp(mid, UTC)) == off:
                lo = mid
            else:
                hi = mid
        return datetime.fromtimestamp(hi, UTC)

    def _wall_to_instant(self, wall: datetime) -> datetime:
        """Debian's mapping of a wall time: first occurrence, or the end of a DST gap."""
        first = wall.replace(tzinfo=self.tz, fold=0).astimezone(UTC)
        if first.astimezone(self.tz).replace(tzinfo=None) == wall:
            return first
        # In a gap: fold=1 reads the wall with the offset after the change (an
        # instant before it), fold=0 with the offset before (an instant after).
        before = wall.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
        lo, hi = min(before, first), max(before, first)
        change = self._first_change(lo, hi, self._offset(lo))
        return change if change is not None else hi

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire instant strictly after ``after`` (aware UTC); None if none comes."""
        after = as_utc(after)
        return self._next_real(after) if self.real_time else self._next_fixed(after)

    def _next_fixed(self, after: datetime) -> datetime | None:
        wall_after = after.astimezone(self.tz).replace(tzinfo=None)
        wall = self._next_wall(wall_after, inclusive=False)
        # Within a repeated hour the wall clock runs behind some earlier
        # instants: skip wall times whose first occurrence has already passed.
        for _ in range(100_000):
            if wall is None:
                return None
            instant = self._wall_to_instant(wall)
            if instant > after:
                return instant
            wall = self._next_wall(wall, inclusive=False)
        return None

    def _next_real(self, after: datetime) -> datetime | None:
        start, inclusive = after, False
        for _ in range(10_000):
            off = self._offset(start)
            wall = self._next_wall((start + off).replace(tzinfo=None), inclusive)
            if wall is None:
                return None
            candidate = (wall - off).replace(tzinfo=UTC)
            change = self._first_change(start, candidate, off)
            if change is None:
                return candidate
            # The wall clock jumped before the candidate: continue from the jump
            # with the new offset (the jump instant itself may fire).
            start, inclusive = change, True
        return None

    def iter_after(self, after: datetime) -> Iterator[datetime]:
        """Every fire instant after ``after``, in order."""
        current: datetime | None = as_utc(after)
        while True:
            assert current is not None
            current = self.next_after(current)
            if current is None:
                return
            yield current

    def next_n(self, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` fire instants after ``after``."""
        out: list[datetime] = []
        for instant in self.iter_after(after):
            if len(out) >= count:
                break
            out.append(instant)
        return out

    def describe(self) -> str:
        """The expression in plain words."""
        return describe(self)


def zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``, or InvalidInput naming it."""
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidInput(
            f"unknown timezone '{name}'",
            [f"timezone '{name}' is not an IANA zone name; use e.g. 'UTC', "
             "'Europe/Paris' or 'America/New_York'"],
        ) from exc


def parse(text: str, tz: str = "UTC") -> CronExpr:
    """Parse a five-field cron expression (or an ``@`` macro) in zone ``tz``.

    Raises InvalidInput listing every problem; an expression that can never
    fire (``0 0 30 2 *``) is refused too. Parsed expressions are cached: many
    schedules share a few expressions, and the dispatcher evaluates each every tick.
    """
    return _parse(text, tz)


@lru_cache(maxsize=4096)
def _parse(text: str, tz: str) -> CronExpr:
    problems: list[str] = []
    zone_info: ZoneInfo | None = None
    try:
        zone_info = zone(tz)
    except InvalidInput as exc:
        problems.extend(exc.problems)
    source = (text or "").strip()
    expanded = MACROS.get(source.lower(), source)
    if source.startswith("@") and source.lower() not in MACROS:
        problems.append(f"unknown macro '{source}'; known: {', '.join(MACROS)}")
        raise InvalidInput(f"invalid cron expression '{text}'", problems)
    fields = expanded.split()
    if len(fields) != 5:
        problems.append(f"expected 5 fields (minute hour day-of-month month day-of-week), "
                        f"got {len(fields)}")
        raise InvalidInput(f"invalid cron expression '{text}'", problems)
    parsed = [_parse_field(f, i, problems) for i, f in enumerate(fields)]
    if problems:
        raise InvalidInput(f"invalid cron expression '{text}'", problems)
    assert zone_info is not None
    (minutes, m_star), (hours, h_star), (days, d_star), (months, _), (weekdays, w_star) = parsed
    expr = CronExpr(
        text=source, minutes=tuple(sorted(minutes)), hours=tuple(sorted(hours)),
        days=days, months=tuple(sorted(months)), weekdays=weekdays,
        dom_star=d_star, dow_star=w_star, minute_star=m_star, hour_star=h_star, tz=zone_info,
    )
    if expr._next_wall(datetime(2000, 1, 1), inclusive=True) is None:
        raise InvalidInput(f"invalid cron expression '{text}'",
                           [f"'{text}' never fires: no month in it has the days it names"])
    return expr


def validate(text: str, tz: str = "UTC") -> list[str]:
    """Every problem with ``text`` in ``tz`` (empty when it is valid)."""
    try:
        parse(text, tz)
    except InvalidInput as exc:
        return exc.problems or [exc.message]
    return []


# --- plain words ------------------------------------------------------------------


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _runs(values: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def _list_words(values: list[int], word: list[str] | None = None) -> str:
    def w(v: int) -> str:
        return word[v] if word else str(v)

    parts = []
    for a, b in _runs(values):
        if a == b:
            parts.append(w(a))
        elif b == a + 1:
            parts.extend([w(a), w(b)])
        else:
            parts.append(f"{w(a)} through {w(b)}")
    return _join(parts)


def _step_of(values: tuple[int, ...] | list[int], low: int, high: int) -> int | None:
    """The step n when ``values`` is exactly low, low+n, ... (a ``*/n`` field)."""
    if len(values) < 2 or values[0] != low:
        return None
    step = values[1] - values[0]
    if list(values) == list(range(low, high + 1, step)):
        return step
    return None


def _time_words(e: CronExpr) -> str:
    mins, hrs = list(e.minutes), list(e.hours)
    all_min, all_hr = len(mins) == 60, len(hrs) == 24
    if all_min and all_hr:
        return "every minute"
    if all_min:
        return f"every minute during hour {_list_words(hrs)}" if len(hrs) > 1 else \
            f"every minute from {hrs[0]:02d}:00 to {hrs[0]:02d}:59"
    step = _step_of(mins, 0, 59)
    if all_hr:
        if step:
            return f"every {step} minutes"
        if len(mins) == 1:
            return "every hour" if mins[0] == 0 else f"every hour at minute {mins[0]}"
        return f"every hour at minutes {_list_words(mins)}"
    if len(mins) * len(hrs) <= 6:
        return "at " + _join([f"{h:02d}:{m:02d}" for h in hrs for m in mins])
    hstep = _step_of(hrs, 0, 23)
    hours_txt = f"every {hstep} hours" if hstep else f"hours {_list_words(hrs)}"
    if step:
        return f"every {step} minutes during {hours_txt}"
    return f"at minute {_list_words(mins)} past {hours_txt}"


def _day_words(e: CronExpr) -> str:
    days = sorted(e.days)
    dows = sorted(e.weekdays)
    dom_all, dow_all = len(days) == 31, len(dows) == 7
    dom_txt = ""
    if not dom_all:
        step = _step_of(days, 1, 31)
        dom_txt = (f"every {step} days of the month starting on the 1st" if step else
                   f"on day{'s' if len(days) > 1 else ''} {_list_words(days)} of the month")
    dow_txt = "" if dow_all else "on " + _list_words(dows, list(DOW_WORDS))
    if dow_txt == "on Monday through Friday":
        dow_txt = "on weekdays"
    if dom_txt and dow_txt:
        joiner = " and " if (e.dom_star or e.dow_star) else " or "
        return dom_txt + joiner + dow_txt
    return dom_txt or dow_txt or "every day"


def describe(e: CronExpr) -> str:
    """``e`` in plain words, e.g. "at 02:30 every day (America/New_York)"."""
    text = f"{_time_words(e)}, {_day_words(e)}"
    if len(e.months) < 12:
        text += ", in " + _list_words([m - 1 for m in e.months], list(MONTH_WORDS))
    if e.real_time and text.startswith("every minute, every day"):
        text = "every minute"
    return f"{text} ({e.timezone})"
