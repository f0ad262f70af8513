"""User schedules: add, list, delete, pause, resume, run now, preview.

Every function takes a session and ``now``; the user-facing actions commit
their own transaction (and change nothing when they raise), while
:func:`remove_for_graph` joins the caller's transaction. Only a schedule's
owner may change it: anyone else gets :class:`NotAuthorized`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.clock import as_utc
from fleet.errors import InvalidInput, NotAuthorized, NotFound
from fleet.scheduling import counters, cron
from fleet.scheduling.runs import created_event, fire_values, run_values
from fleet.scheduling.validation import EngineChecker, GraphChecker
from fleet.settings import Settings
from fleet.store import graphs as graph_store
from fleet.store import runs as run_store
from fleet.store import schedules as store
from fleet.store.models import Graph, Schedule
from fleet.sweeps.base import RunSender

log = logging.getLogger("fleet.scheduling")

OVERLAP_POLICIES = ("skip", "allow", "buffer_one", "cancel_previous")
CATCHUP_POLICIES = ("latest", "all", "skip")

_DEFAULTS = Settings.model_fields


def _default(name: str) -> Any:
    return _DEFAULTS[name].default


# --- removal on graph delete / archive (called by the engine) -----------------------


def remove_for_graph(session: Session, graph_id: str, now: datetime, reason: str) -> list[str]:
    """Delete every schedule of ``graph_id`` (logged) and return their ids. Does not commit."""
    ids = store.ids_for_graph(session, graph_id)
    if ids:
        store.delete_ids(session, ids)
        for schedule_id in ids:
            log.warning("schedule %s removed at %s: graph %s %s", schedule_id,
                        as_utc(now).isoformat(), graph_id, reason)
    return ids


# --- preview and description ----------------------------------------------------------


@dataclass(frozen=True)
class FireTime:
    """One upcoming fire, in the schedule's zone and in UTC."""

    local: datetime
    utc: datetime

    def to_dict(self) -> dict[str, str]:
        """ISO strings of both."""
        return {"local": self.local.isoformat(), "utc": self.utc.isoformat()}


@dataclass(frozen=True)
class Preview:
    """What an expression will do: in words, and its next fire times."""

    cron: str
    timezone: str
    description: str
    fires: list[FireTime]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {"cron": self.cron, "timezone": self.timezone, "description": self.description,
                "fires": [f.to_dict() for f in self.fires]}


def preview(expr: str, tz: str, start: datetime, count: int = 5) -> Preview:
    """The next ``count`` fire times after ``start``: the dispatcher's own computation."""
    if count < 1 or count > 1000:
        raise InvalidInput("invalid preview count", [f"count must be 1-1000, got {count}"])
    parsed = cron.parse(expr, tz)
    fires = [FireTime(t.astimezone(parsed.tz), t) for t in parsed.next_n(start, count)]
    return Preview(parsed.text, parsed.timezone, parsed.describe(), fires)


# --- views ------------------------------------------------------------------------------


@dataclass
class ScheduleView:
    """A schedule as ``list`` shows it."""

    schedule: Schedule
    description: str
    next_fires: list[FireTime] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        s = self.schedule
        return {
            "id": s.id, "user_id": s.user_id, "name": s.name, "graph_id": s.graph_id,
            "graph_version": s.graph_version, "cron": s.cron, "timezone": s.timezone,
            "description": self.description, "inputs": s.input_data,
            "paused": s.paused, "paused_reason": s.paused_reason,
            "overlap_policy": s.overlap_policy, "catchup_policy": s.catchup_policy,
            "catchup_window_s": s.catchup_window_s,
            "next_run_at": s.next_run_at.isoformat() if s.next_run_at else None,
            "last_fired_at": s.last_fired_at.isoformat() if s.last_fired_at else None,
            "next_fires": [f.to_dict() for f in self.next_fires],
        }


def view(schedule: Schedule, now: datetime, count: int = 3) -> ScheduleView:
    """The schedule with its description and next ``count`` fires (none while paused)."""
    try:
        expr = cron.parse(schedule.cron, schedule.timezone)
    except InvalidInput as exc:
        return ScheduleView(schedule, f"invalid: {exc.message}")
    fires: list[FireTime] = []
    if not schedule.paused and schedule.next_run_at is not None:
        first = schedule.next_run_at
        times = [first, *expr.next_n(first, count - 1)] if count > 0 else []
        fires = [FireTime(t.astimezone(expr.tz), t) for t in times]
    return ScheduleView(schedule, expr.describe(), fires)


def list_schedules(session: Session, now: datetime, *, user_id: str | None = None,
                   limit: int = 200, count: int = 3) -> list[ScheduleView]:
    """Schedules (of one user, or all) with their next ``count`` fire times."""
    return [view(s, now, count) for s in store.list_schedules(session, user_id=user_id,
                                                               limit=limit)]


def get_owned(session: Session, schedule_id: str, user_id: str) -> Schedule:
    """The schedule, if ``user_id`` owns it; NotFound or NotAuthorized otherwise."""
    schedule = store.get(session, schedule_id, fresh=True)
    if schedule is None:
        raise NotFound(f"schedule {schedule_id} does not exist; `fleet schedules list` "
                       "shows the ids")
    if schedule.user_id != user_id:
        raise NotAuthorized(f"user '{user_id}' may not change schedule {schedule_id}: "
                            "only its owner may")
    return schedule


# --- add --------------------------------------------------------------------------------


def _graph_for(session: Session, graph_id: str, version: int | None, user_id: str,
               problems: list[str]) -> Graph | None:
    graph = graph_store.get(session, graph_id, version)
    label = f"graph '{graph_id}'" + (f" version {version}" if version is not None else "")
    if graph is None or graph.user_id != user_id:
        # Another user's graph is reported as missing: its existence is not ours to tell.
        problems.append(f"{label} does not exist for user '{user_id}'")
        return None
    if graph.is_archived:
        problems.append(f"{label} is archived; unarchive it or schedule another graph")
        return None
    return graph


def add(
    session: Session,
    now: datetime,
    *,
    user_id: str,
    graph_id: str,
    cron_expr: str,
    timezone: str = "UTC",
    version: int | None = None,
    inputs: dict[str, Any] | None = None,
    name: str = "",
    overlap: str = "skip",
    catchup: str = "latest",
    catchup_window_s: float | None = None,
    max_input_bytes: int | None = None,
    checker: GraphChecker | None = None,
) -> Schedule:
    """Validate everything, then store the schedule with its first ``next_run_at``. Commits.

    Raises InvalidInput listing every problem (cron, timezone, policies,
    graph, inputs); nothing is stored then.
    """
    problems: list[str] = []
    inputs = {} if inputs is None else inputs
    window = _default("default_catchup_window_s") if catchup_window_s is None \
        else catchup_window_s
    cap = _default("max_input_bytes") if max_input_bytes is None else max_input_bytes
    if not user_id or not user_id.strip():
        problems.append("user: a user id is required")
    if overlap not in OVERLAP_POLICIES:
        problems.append(f"overlap policy '{overlap}' is unknown; use one of "
                        f"{', '.join(OVERLAP_POLICIES)}")
    if catchup not in CATCHUP_POLICIES:
        problems.append(f"catch-up policy '{catchup}' is unknown; use one of "
                        f"{', '.join(CATCHUP_POLICIES)}")
    if window < 0:
        problems.append(f"catch-up window must be >= 0 seconds, got {window:g}")
    if len(name) > 256:
        problems.append("name: longer than 256 characters")
    if not isinstance(inputs, dict):
        problems.append(f"inputs must be a mapping of name to value, got {type(inputs).__name__}")
        inputs = {}
    else:
        size = len(json.dumps(inputs, default=str).encode())
        if size > cap:
            problems.append(f"inputs are {size} bytes; the limit is {cap} (max_input_bytes)")
    try:
        expr: cron.CronExpr | None = cron.parse(cron_expr, timezone)
    except InvalidInput as exc:
        problems.extend(exc.problems or [exc.message])
        expr = None
    graph = _graph_for(session, graph_id, version, user_id, problems)
    if graph is not None:
        check = checker or EngineChecker()
        key = (graph.id, graph.version)
        graph_problems = check.graph_problems(key, graph.definition)
        problems.extend(f"graph: {p}" for p in graph_problems)
        if not graph_problems:
            problems.extend(f"inputs: {p}" for p in
                            check.input_problems(key, graph.definition, inputs))
    if problems:
        session.rollback()
        raise InvalidInput("the schedule was not added", problems)
    assert expr is not None
    schedule = Schedule(
        user_id=user_id, graph_id=graph_id, graph_version=version, name=name,
        cron=expr.text, timezone=expr.timezone, input_data=inputs,
        next_run_at=expr.next_after(now), overlap_policy=overlap, catchup_policy=catchup,
        catchup_window_s=window, created_at=now, updated_at=now,
    )
    store.add(session, schedule)
    session.commit()
    log.info("schedule %s added by %s: %s %s on graph %s", schedule.id, user_id,
             schedule.cron, schedule.timezone, graph_id)
    return schedule


# --- owner actions -------------------------------------------------------------------------


def delete(session: Session, schedule_id: str, user_id: str, now: datetime) -> str:
    """Delete the schedule (owner only). Commits."""
    get_owned(session, schedule_id, user_id)
    store.delete_ids(session, [schedule_id])
    session.commit()
    log.info("schedule %s deleted by %s at %s", schedule_id, user_id, now.isoformat())
    return schedule_id


def pause(session: Session, schedule_id: str, user_id: str, now: datetime,
          reason: str = "paused by its owner") -> Schedule:
    """Pause the schedule (owner only): it fires nothing until resumed. Commits."""
    schedule = get_owned(session, schedule_id, user_id)
    store.update_values(session, schedule.id, {"paused": True, "paused_reason": reason,
                                               "updated_at": now})
    session.commit()
    log.info("schedule %s paused by %s: %s", schedule_id, user_id, reason)
    return _reloaded(session, schedule_id)


def _check_schedule_graph(session: Session, schedule: Schedule, user_id: str,
                          checker: GraphChecker | None) -> tuple[Graph | None, list[str]]:
    """The schedule's graph and every problem with it and with the schedule's inputs."""
    problems: list[str] = []
    graph = _graph_for(session, schedule.graph_id, schedule.graph_version, user_id, problems)
    if graph is not None:
        check = checker or EngineChecker()
        key = (graph.id, graph.version)
        problems.extend(f"graph: {p}" for p in check.graph_problems(key, graph.definition))
        if not problems:
            problems.extend(f"inputs: {p}" for p in check.input_problems(
                key, graph.definition, schedule.input_data))
    return graph, problems


def resume(session: Session, schedule_id: str, user_id: str, now: datetime, *,
           checker: GraphChecker | None = None) -> Schedule:
    """Resume (owner only): checks the graph again, then fires from the next instant after now.

    Instants that passed while paused are not caught up. Commits.
    """
    schedule = get_owned(session, schedule_id, user_id)
    expr = cron.parse(schedule.cron, schedule.timezone)
    _, problems = _check_schedule_graph(session, schedule, user_id, checker)
    if problems:
        session.rollback()
        raise InvalidInput(f"schedule {schedule_id} cannot resume; fix the graph first", problems)
    store.update_values(session, schedule.id, {
        "paused": False, "paused_reason": None, "buffered_for": None,
        "next_run_at": expr.next_after(now), "updated_at": now,
    })
    session.commit()
    log.info("schedule %s resumed by %s", schedule_id, user_id)
    return _reloaded(session, schedule_id)


def run_now(session: Session, schedule_id: str, user_id: str, now: datetime, *,
            send: RunSender | None = None, checker: GraphChecker | None = None) -> str:
    """Create a queued run from the schedule at once (owner only); returns the run id.

    The run carries the schedule id but no ``scheduled_for`` (it is not one
    of the cron instants). Commits, then hands the run to ``send``.
    """
    schedule = get_owned(session, schedule_id, user_id)
    graph, problems = _check_schedule_graph(session, schedule, user_id, checker)
    if problems:
        session.rollback()
        raise InvalidInput(f"schedule {schedule_id} cannot run now", problems)
    assert graph is not None
    values = run_values(schedule, graph, None, now)
    run_id = values["id"]
    store.insert_runs(session, [values])
    store.insert_run_events(session, [created_event(run_id, schedule.id, None, now)])
    store.insert_fires(session, [fire_values(schedule.id, now, "fired", now, run_id=run_id,
                                             detail=f"run now by {user_id}")])
    session.commit()
    counters.record("fired", schedule.id, now, f"run now by {user_id}: run {run_id}")
    if send is not None:
        try:
            send(run_id)
            run_store.mark_sent(session, [run_id], now)
            session.commit()
        except Exception as exc:  # the re-send sweep sends it later
            session.rollback()
            log.warning("run %s of schedule %s not sent (%s); the re-send sweep will",
                        run_id, schedule_id, exc.__class__.__name__)
    return run_id


def _reloaded(session: Session, schedule_id: str) -> Schedule:
    schedule = store.get(session, schedule_id, fresh=True)
    assert schedule is not None
    return schedule
