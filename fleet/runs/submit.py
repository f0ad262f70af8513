"""Submitting a run: the row is committed as ``queued`` before its message is sent.

A send that fails leaves the run queued (logged); the re-send sweep sends it
later, so a broker outage never loses a submission.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.engine.blocks.registry import BlockRegistry
from fleet.errors import InvalidInput, NotFound
from fleet.ports import BatchSender, RunSender
from fleet.runs import checks
from fleet.runs.create import NewRun, create, create_many
from fleet.runs.owned import owned_problems
from fleet.runs.sending import send_and_record
from fleet.settings import Settings
from fleet.store import graphs as graph_store
from fleet.store import runs as store
from fleet.store.db import write_transaction
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
    # the checks read inside the write transaction (see write_transaction)
    write_transaction(session, "submit")
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


@dataclass(frozen=True)
class Request:
    """One run to submit in a batch."""

    graph_id: str
    inputs: dict[str, Any] = field(default_factory=dict)
    version: int | None = None
    credentials: dict[str, str] | None = None


def submit_many(session: Session, requests: Sequence[Request], *, user_id: str,
                now: datetime, send: RunSender, registry: BlockRegistry, settings: Settings,
                send_many: BatchSender | None = None) -> list[str]:
    """Submit a batch of runs: every one checked first (InvalidInput names each problem,
    with its position; nothing is created then), all rows in one INSERT and one commit,
    all messages in one broker round trip; the rows are born recorded as sent (a refused
    send is undone for the re-send sweep).

    Returns the new run ids, in the order of ``requests``.
    """
    write_transaction(session, "submit")
    graphs: dict[tuple[str, int | None], Graph] = {}
    problems: list[str] = []
    runs: list[NewRun] = []
    for i, req in enumerate(requests):
        key = (req.graph_id, req.version)
        try:
            if key not in graphs or req.credentials:
                graphs[key] = runnable_graph(
                    session, graph_id=req.graph_id, version=req.version, inputs=req.inputs,
                    user_id=user_id, registry=registry, settings=settings, now=now,
                    credentials=req.credentials)
            else:
                found = checks.input_problems(graphs[key].definition, req.inputs, registry,
                                              settings.max_input_bytes)
                if found:
                    raise InvalidInput("invalid inputs", found)
        except (InvalidInput, NotFound) as exc:
            problems += [f"run {i + 1}: {p}" for p in
                         (getattr(exc, "problems", None) or [exc.message])]
            continue
        runs.append(NewRun(user_id=user_id, graph=graphs[key], inputs=dict(req.inputs),
                           detail=f"submitted by {user_id} (batch)",
                           credentials=dict(req.credentials or {})))
    if problems:
        session.rollback()
        raise InvalidInput(f"the batch was not submitted: {len(problems)} problem(s)", problems)
    made = create_many(session, runs, now, sending=True)
    session.commit()
    ids = [r.id for r in made]
    send_and_record(session, ids, now, send, send_many=send_many, recorded=True)
    return ids
