"""Reading schedules for the API and dashboard: keyset pages and one schedule's detail
(next fires in its zone and UTC, recent fires, misses and skips, recent runs).

A schedule is visible only to its owner (``user_id``; None: an admin reading all):
another user's schedule is answered exactly as a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from fleet.errors import InvalidInput
from fleet.scheduling.service import ScheduleView, get_owned, view
from fleet.store import keyset, pages, run_lists
from fleet.store import schedules as store
from fleet.store.models import Run, ScheduleFire

MAX_LIMIT = 500


@dataclass
class SchedulePage:
    """One page of schedules (with their next fires) and the next cursor."""

    schedules: list[ScheduleView]
    next_cursor: str | None


def list_page(session: Session, now: datetime, *, user_id: str | None,
              owner: str | None = None, graph_id: str | None = None, limit: int = 100,
              cursor: str | None = None, count: int = 3) -> SchedulePage:
    """The schedules ``user_id`` may see (None: all, or ``owner``'s), oldest first."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("invalid limit", [f"limit: must be 1-{MAX_LIMIT}, got {limit}"])
    if user_id is not None and owner not in (None, user_id):
        return SchedulePage([], None)
    after = None
    if cursor:
        at, sid = keyset.decode(cursor, 2)
        if not isinstance(at, datetime) or not isinstance(sid, str):
            raise InvalidInput("invalid cursor", ["cursor: not a cursor returned by this list"])
        after = (at, sid)
    rows = pages.schedules(session, user_id=user_id if user_id is not None else owner,
                           graph_id=graph_id, limit=limit + 1, after=after)
    session.commit()
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return SchedulePage([view(s, now, count) for s in rows],
                        keyset.encode(last.created_at, last.id) if more and last else None)


@dataclass
class ScheduleDetail:
    """One schedule with what it did lately."""

    view: ScheduleView
    fires: list[ScheduleFire] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)


def detail(session: Session, schedule_id: str, *, user_id: str | None, now: datetime,
           fires: int = 50, runs: int = 10, count: int = 5) -> ScheduleDetail:
    """The schedule (NotFound unless ``user_id`` owns it), its recent fire records (fired,
    missed, skipped, failed) and its latest runs."""
    schedule = get_owned(session, schedule_id, user_id)
    found = ScheduleDetail(
        view(schedule, now, count),
        store.fires(session, schedule_id, limit=fires),
        run_lists.page(session, run_lists.Where(schedule_id=schedule_id), limit=runs))
    session.commit()
    return found
