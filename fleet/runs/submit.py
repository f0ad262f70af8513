"""Submitting a run: the row is committed as ``queued`` before its message is sent.

A send that fails leaves the run queued (logged); the re-send sweep sends it
later, so a broker outage never loses a submission.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.errors import InvalidInput, NotFound
from fleet.runs import fsm
from fleet.settings import Settings
from fleet.store import graphs as graph_store
from fleet.store import runs as store
from fleet.store.models import Graph, Run, RunState
from fleet.sweeps.base import RunSender

log = logging.getLogger(__name__)


def _input_problems(graph: Graph, inputs: Any, registry: Any, settings: Settings) -> list[str]:
    if not isinstance(inputs, dict):
        return [f"inputs must be a JSON object of name -> value, not {type(inputs).__name__}"]
    problems: list[str] = []
    try:
        size = len(json.dumps(inputs).encode())
    except (TypeError, ValueError) as exc:
        return [f"inputs are not JSON-serializable: {exc}"]
    if size > settings.max_input_bytes:
        problems.append(f"inputs are {size} bytes, over the limit of {settings.max_input_bytes} "
                        "bytes (FLEET_MAX_INPUT_BYTES); pass large data as an artifact")
    from fleet.engine.validate import check_inputs

    try:
        check_inputs(graph.definition, inputs, registry)
    except InvalidInput as exc:
        problems.extend(exc.problems or [exc.message])
    return problems


def validate(session: Session, *, graph_id: str, version: int | None, inputs: Any,
             user_id: str, registry: Any, settings: Settings) -> Graph:
    """The graph version to run, or raise (NotFound / InvalidInput) naming every problem."""
    graph = graph_store.get(session, graph_id, version)
    what = f"graph '{graph_id}'" + (f" version {version}" if version is not None else "")
    # Another user's graph is reported as missing: its existence is not theirs to know.
    if graph is None or graph.user_id != user_id:
        raise NotFound(f"{what} does not exist for user '{user_id}'; "
                       "list graphs with `fleet graphs list`")
    if graph.is_archived:
        raise InvalidInput(f"{what} is archived and cannot be run; unarchive it or add a "
                           "new version", [f"graph '{graph_id}' is archived"])
    problems = _input_problems(graph, inputs, registry, settings)
    if problems:
        raise InvalidInput(f"cannot run {what}: {len(problems)} problem(s) with the inputs",
                           problems)
    return graph


def submit(session: Session, *, graph_id: str, version: int | None, inputs: dict[str, Any],
           user_id: str, now: datetime, send: RunSender, registry: Any,
           settings: Settings) -> Run:
    """Validate, commit the run as queued, then send it (a failed send leaves it queued)."""
    graph = validate(session, graph_id=graph_id, version=version, inputs=inputs,
                     user_id=user_id, registry=registry, settings=settings)
    run = Run(user_id=user_id, graph_id=graph.id, graph_version=graph.version,
              state=RunState.QUEUED.value, inputs=dict(inputs),
              max_attempts=graph.max_attempts, timeout_s=graph.timeout_s,
              created_at=now, queued_at=now, state_changed_at=now)
    store.add(session, run)
    store.add_events(session, [fsm.transition_event(run.id, None, RunState.QUEUED, now,
                                                    detail=f"submitted by {user_id}")])
    session.commit()
    return send_run(session, run, send, now)


def send_run(session: Session, run: Run, send: RunSender, now: datetime) -> Run:
    """Hand a committed queued run to the broker and record it; failures are logged only."""
    try:
        send(run.id)
    except Exception as exc:
        log.warning("run %s is queued but its message could not be sent (%s); the re-send "
                    "sweep will send it", run.id, exc.__class__.__name__)
        return run
    store.mark_sent(session, [run.id], now)
    session.commit()
    run.last_sent_at = now
    return run
