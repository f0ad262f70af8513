"""User schedules: add, list, delete, pause, resume, run now, preview.

Every function takes a session and ``now``; the actions commit their own
transaction and change nothing when they raise. A schedule is visible only to
its owner: another user's schedule is answered exactly as a missing one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.engine.blocks.registry import BlockRegistry
from fleet.errors import InvalidInput, NotFound
from fleet.ports import AlertPort, RunSender
from fleet.runs import checks
from fleet.runs.create import NewRun, create
from fleet.runs.owned import owned_problems
from fleet.runs.sending import send_and_record
from fleet.scheduling import cron, outcomes
from fleet.settings import Settings
from fleet.store import graphs as graph_store
from fleet.store import schedules as store
from fleet.store.db import write_transaction
from fleet.store.models import Graph, Schedule

log = logging.getLogger("fleet.scheduling")

OVERLAP_POLICIES = ("skip", "allow", "buffer_one", "cancel_previous")
CATCHUP_POLICIES = ("latest", "all", "skip")

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
            "credentials": s.credential_refs,
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


def get_owned(session: Session, schedule_id: str, user_id: str | None) -> Schedule:
    """The schedule, if ``user_id`` owns it (None: an operator acting for anyone); else NotFound.

    Another user's schedule is answered exactly as a missing one.
    """
    schedule = store.get(session, schedule_id, fresh=True)
    if schedule is None or (user_id is not None and schedule.user_id != user_id):
        session.rollback()
        raise NotFound(f"schedule {schedule_id} does not exist"
                       + (f" for user '{user_id}'" if user_id else "")
                       + "; `fleet schedules list` shows the ids")
    return schedule


# --- add --------------------------------------------------------------------------------


def _graph_for(session: Session, user_id: str, graph_id: str, version: int | None,
               problems: list[str]) -> Graph | None:
    graph = graph_store.get(session, user_id, graph_id, version)
    label = f"graph '{graph_id}'" + (f" version {version}" if version is not None else "")
    if graph is None:
        # Another user's graph is reported as missing: its existence is not ours to tell.
        problems.append(f"{label} does not exist for user '{user_id}'")
        return None
    if graph.is_archived:
        problems.append(f"{label} is archived; unarchive it or schedule another graph")
        return None
    return graph


def _option_problems(user_id: str, overlap: str, catchup: str, window: float,
                     name: str) -> list[str]:
    problems: list[str] = []
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
    return problems


def _check_graph(session: Session, user_id: str, graph_id: str, version: int | None,
                 inputs: Any, settings: Settings, registry: BlockRegistry,
                 problems: list[str], *, now: datetime,
                 credentials: dict[str, Any] | None = None) -> Graph | None:
    """The graph to schedule, adding to ``problems`` what is wrong with it, the inputs, or the
    credentials and artifacts they name (which must be the user's own)."""
    graph = _graph_for(session, user_id, graph_id, version, problems)
    if graph is not None:
        found = checks.problems(graph.definition, inputs, registry, settings.max_input_bytes)
        problems.extend(found or owned_problems(
            session, user_id=user_id, definition=graph.definition, inputs=inputs,
            credentials=credentials or {}, registry=registry, now=now))
    return graph


def add(
    session: Session,
    now: datetime,
    *,
    settings: Settings,
    registry: BlockRegistry,
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
    credentials: dict[str, str] | None = None,
) -> Schedule:
    """Validate everything, then store the schedule with its first ``next_run_at``. Commits.

    Raises InvalidInput listing every problem (cron, timezone, policies,
    graph, inputs, credentials); nothing is stored then. ``credentials`` gives
    credential ids by node pin (``"node.pin" -> id``); they reach every run it fires.
    """
    write_transaction(session, "schedule add")  # checks read, then it inserts
    inputs = {} if inputs is None else inputs
    window = (settings.default_catchup_window_s if catchup_window_s is None
              else catchup_window_s)
    problems = _option_problems(user_id, overlap, catchup, window, name)
    try:
        expr: cron.CronExpr | None = cron.parse(cron_expr, timezone)
    except InvalidInput as exc:
        problems.extend(exc.problems or [exc.message])
        expr = None
    _check_graph(session, user_id, graph_id, version, inputs, settings, registry, problems,
                 now=now, credentials=credentials)
    if problems:
        session.rollback()
        raise InvalidInput("the schedule was not added", problems)
    assert expr is not None
    schedule = Schedule(
        user_id=user_id, graph_id=graph_id, graph_version=version, name=name,
        cron=expr.text, timezone=expr.timezone, input_data=inputs,
        credential_refs=dict(credentials or {}),
        next_run_at=expr.next_after(now), overlap_policy=overlap, catchup_policy=catchup,
        catchup_window_s=window, created_at=now, updated_at=now,
    )
    store.add(session, schedule)
    session.commit()
    log.info("schedule %s added by %s: %s %s on graph %s", schedule.id, user_id,
             schedule.cron, schedule.timezone, graph_id)
    return schedule


# --- owner actions -------------------------------------------------------------------------


PAUSED_ALERT = "schedule_paused"


def _clear_paused_alert(session: Session, schedule_id: str, now: datetime,
                        alerts: AlertPort | None, why: str) -> None:
    """Resolve the owner's "your schedule was paused" alert, if one is firing."""
    if alerts is not None:
        alerts.resolve(session, now, kind=PAUSED_ALERT, fingerprint=schedule_id,
                       message=f"Your schedule {schedule_id} was {why}.")


def delete(session: Session, schedule_id: str, user_id: str | None, now: datetime, *,
           alerts: AlertPort | None = None) -> str:
    """Delete the schedule (owner only), resolving its paused alert. Commits."""
    write_transaction(session, "schedule delete")
    get_owned(session, schedule_id, user_id)
    store.delete_ids(session, [schedule_id])
    session.commit()
    log.info("schedule %s deleted by %s at %s", schedule_id, user_id, now.isoformat())
    _clear_paused_alert(session, schedule_id, now, alerts, "deleted")
    return schedule_id


def pause(session: Session, schedule_id: str, user_id: str | None, now: datetime,
          reason: str = "paused by its owner") -> Schedule:
    """Pause the schedule (owner only): it fires nothing until resumed. Commits."""
    write_transaction(session, "schedule pause")
    schedule = get_owned(session, schedule_id, user_id)
    store.update_values(session, schedule.id, {"paused": True, "paused_reason": reason,
                                               "updated_at": now})
    session.commit()
    log.info("schedule %s paused by %s: %s", schedule_id, user_id, reason)
    return _reloaded(session, schedule_id)


def _schedule_graph(session: Session, schedule: Schedule, settings: Settings,
                    registry: BlockRegistry, now: datetime) -> tuple[Graph | None, list[str]]:
    """The schedule's graph and every problem with it, its inputs and its credentials."""
    problems: list[str] = []
    graph = _check_graph(session, schedule.user_id, schedule.graph_id, schedule.graph_version,
                         schedule.input_data, settings, registry, problems, now=now,
                         credentials=dict(schedule.credential_refs or {}))
    return graph, problems


def restart_all(session: Session, now: datetime, *, settings: Settings,
                registry: BlockRegistry) -> int:
    """Restart every unpaused schedule from its next instant after now; how many.

    For a database copied from an example built long ago: its schedules would
    otherwise report every instant since then as missed. A schedule whose graph
    no longer checks is left as it was (and logged). Commits.
    """
    count = 0
    for v in list_schedules(session, now, limit=10_000):
        if v.schedule.paused:
            continue
        try:
            resume(session, v.schedule.id, None, now, settings=settings, registry=registry)
        except InvalidInput as exc:
            log.warning("schedule %s not restarted: %s", v.schedule.id, exc.message)
            continue
        count += 1
    return count


def resume(session: Session, schedule_id: str, user_id: str | None, now: datetime, *,
           settings: Settings, registry: BlockRegistry,
           alerts: AlertPort | None = None) -> Schedule:
    """Resume (owner only): checks the graph again, then fires from the next instant after now.

    Instants that passed while paused are not caught up. Commits.
    """
    write_transaction(session, "schedule resume")
    schedule = get_owned(session, schedule_id, user_id)
    expr = cron.parse(schedule.cron, schedule.timezone)
    _, problems = _schedule_graph(session, schedule, settings, registry, now)
    if problems:
        session.rollback()
        raise InvalidInput(f"schedule {schedule_id} cannot resume; fix the graph first", problems)
    store.update_values(session, schedule.id, {
        "paused": False, "paused_reason": None, "buffered_for": None,
        "next_run_at": expr.next_after(now), "updated_at": now,
    })
    session.commit()
    log.info("schedule %s resumed by %s", schedule_id, user_id or "an operator")
    _clear_paused_alert(session, schedule_id, now, alerts, "resumed")
    return _reloaded(session, schedule_id)


def run_now(session: Session, schedule_id: str, user_id: str | None, now: datetime, *,
            settings: Settings, registry: BlockRegistry, send: RunSender) -> str:
    """Create a queued run from the schedule at once (owner only) and send it; its id.

    The run carries the schedule id but no ``scheduled_for`` (it is not one
    of the cron instants). Commits, then sends.
    """
    schedule = get_owned(session, schedule_id, user_id)
    graph, problems = _schedule_graph(session, schedule, settings, registry, now)
    if problems:
        session.rollback()
        raise InvalidInput(f"schedule {schedule_id} cannot run now", problems)
    assert graph is not None
    who = user_id or "an operator"
    run_id = create(session, NewRun(user_id=schedule.user_id, graph=graph,
                                    inputs=dict(schedule.input_data or {}),
                                    detail=f"run now from schedule {schedule.id} by {who}",
                                    schedule_id=schedule.id,
                                    credentials=dict(schedule.credential_refs or {})), now)
    assert run_id is not None
    store.insert_fires(session, [store.fire_row(schedule.id, now, "fired", now, run_id=run_id,
                                                detail=f"run now by {who}")])
    session.commit()
    outcomes.record("fired", schedule.id, now, f"run now by {who}: run {run_id}")
    send_and_record(session, [run_id], now, send)
    return run_id


def _reloaded(session: Session, schedule_id: str) -> Schedule:
    schedule = store.get(session, schedule_id, fresh=True)
    assert schedule is not None
    return schedule
