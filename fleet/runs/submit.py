"""Submitting a run: the row is committed as ``queued`` before its message is sent.

A send that fails leaves the run queued (logged); the re-send sweep sends it
later, so a broker outage never loses a submission.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.engine.blocks.registry import BlockRegistry
from fleet.errors import InvalidInput, NotFound
from fleet.ports import RunSender
from fleet.runs import checks
from fleet.runs.create import NewRun, create
from fleet.runs.owned import owned_problems
from fleet.runs.sending import send_and_record
from fleet.settings import Settings
from fleet.store import graphs as graph_store
from fleet.store import runs as store
from fleet.store.models import Graph, Run


def runnable_graph(session: Session, *, graph_id: str, version: int | None, inputs: Any,
                   user_id: str, registry: BlockRegistry, settings: Settings,
                   now: datetime, credentials: dict[str, str] | None = None) -> Graph:
    """The graph version to run, or raise (NotFound / InvalidInput) naming every problem.

    The credentials and artifact inputs the run would use must be the user's own.
    """
    graph = graph_store.get(session, user_id, graph_id, version)
    what = f"graph '{graph_id}'" + (f" version {version}" if version is not None else "")
    # Another user's graph is reported as missing: its existence is not theirs to know.
    if graph is None:
        raise NotFound(f"{what} does not exist for user '{user_id}'; "
                       "list graphs with `fleet graphs list`")
    if graph.is_archived:
        raise InvalidInput(f"{what} is archived and cannot be run; unarchive it or add a "
                           "new version", [f"graph '{graph_id}' is archived"])
    problems = checks.problems(graph.definition, inputs, registry, settings.max_input_bytes)
    if not problems:
        problems = owned_problems(session, user_id=user_id, definition=graph.definition,
                                  inputs=inputs, credentials=credentials or {},
                                  registry=registry, now=now)
    if problems:
        session.rollback()
        raise InvalidInput(f"cannot run {what}: {len(problems)} problem(s)", problems)
    return graph


def submit(session: Session, *, graph_id: str, version: int | None, inputs: dict[str, Any],
           user_id: str, now: datetime, send: RunSender, registry: BlockRegistry,
           settings: Settings, retry_of: str | None = None,
           credentials: dict[str, str] | None = None) -> Run:
    """Validate, commit the run as queued, then send it (a failed send leaves it queued).

    ``credentials`` gives credential ids by the node pin they feed (``"node.pin"``).
    """
    graph = runnable_graph(session, graph_id=graph_id, version=version, inputs=inputs,
                           user_id=user_id, registry=registry, settings=settings, now=now,
                           credentials=credentials)
    detail = (f"retry of run {retry_of} by {user_id}" if retry_of
              else f"submitted by {user_id}")
    run_id = create(session, NewRun(user_id=user_id, graph=graph, inputs=dict(inputs),
                                    detail=detail, retry_of=retry_of,
                                    credentials=dict(credentials or {})), now)
    assert run_id is not None  # only scheduled fires can be duplicates
    session.commit()
    send_and_record(session, [run_id], now, send)
    run = store.get(session, run_id, fresh=True)
    assert run is not None
    session.commit()
    return run
