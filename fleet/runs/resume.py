"""Resuming runs parked in ``waiting_approval`` / ``waiting_tool``.

The decision is stored on the waiting NodeRun, which becomes a finished
checkpoint; the run goes back to ``queued`` (:mod:`fleet.runs.control` sends
it) and its
re-execution replays everything up to and including that node, then carries on.
A node waiting inside a sub-graph parked its sub-graph node: the decision is
stored in that node's nested state, which becomes ``resumed`` (see
:mod:`fleet.engine.suspension`), and the re-execution runs the sub-graph node
again, replaying what the sub-graph had finished.
Each function is one unit of work and commits; on any error nothing changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec

from sqlmodel import Session

from fleet.engine import suspension
from fleet.engine.dataflow import to_jsonable
from fleet.errors import InvalidInput, NotFound, NotWaiting
from fleet.runs import fsm
from fleet.store import node_runs
from fleet.store import runs as run_store
from fleet.store.db import begin_write
from fleet.store.models import NodeRun, Run, RunState

P = ParamSpec("P")


def _run_in(session: Session, run_id: str, state: RunState, user_id: str | None,
            action: str) -> Run:
    run = run_store.get(session, run_id, fresh=True)
    # Another user's run looks exactly like a missing one.
    if run is None or (user_id is not None and run.user_id != user_id):
        raise NotFound(f"run {run_id} does not exist")
    if run.state != state.value:
        raise NotWaiting(f"run {run_id} is {run.state}, not {state.value}; only a run in "
                         f"{state.value} can be {action}d")
    return run


def _waiting_node(session: Session, run_id: str, state: RunState,
                  node_id: str | None = None) -> NodeRun:
    found = node_runs.waiting(session, run_id, state.value, node_id)
    if not found:
        waiting = [nr.node_id for nr in node_runs.waiting(session, run_id, state.value)]
        what = f"node '{node_id}'" if node_id else "no node"
        raise NotFound(f"run {run_id}: {what} is not in {state.value} (waiting nodes: "
                       f"{', '.join(waiting) or 'none'})")
    return found[0]


def _unit_of_work(fn: Callable[P, None]) -> Callable[P, None]:
    """One write transaction (``BEGIN IMMEDIATE`` on SQLite, so the read that decides
    cannot go stale before the write); commit on success, roll back on any error."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        session = args[0]
        assert isinstance(session, Session)
        if session.in_transaction():
            session.rollback()
        begin_write(session, fn.__name__)
        try:
            fn(*args, **kwargs)
            session.commit()
        except BaseException:
            session.rollback()
            raise

    return wrapper


def _apply(session: Session, run_id: str, node: NodeRun, node_values: dict[str, Any],
           to: RunState, now: datetime, detail: str, **run_fields: Any) -> None:
    if to is RunState.QUEUED:
        # The execution that parked the run did not fail: resuming spends no attempt.
        run_fields["attempt_count"] = Run.attempt_count - 1
    fsm.transition(session, run_id, to, now, detail=detail, **run_fields)
    if not node_runs.finish(session, node.id, node.state, node_values):
        raise NotWaiting(f"run {run_id}: node '{node.node_id}' was resumed concurrently")


def _decided(node: NodeRun, outputs: list[Any], now: datetime) -> dict[str, Any]:
    """The waiting node run's new values once it emits ``outputs``."""
    state, stored, resume = suspension.decide(node.resume, outputs)
    return {"state": state, "outputs": stored, "resume": resume, "completed_at": now,
            "wall_time_s": _waited(node, now)}


def _where(node: NodeRun) -> str:
    return suspension.path(node.node_id, node.resume)


def _who(user_id: str | None) -> str:
    return f" by {user_id}" if user_id else ""


@_unit_of_work
def approve(session: Session, run_id: str, now: datetime, user_id: str | None = None) -> None:
    """Approve a run in ``waiting_approval``: it goes back to ``queued`` to carry on."""
    _run_in(session, run_id, RunState.WAITING_APPROVAL, user_id, "approve")
    node = _waiting_node(session, run_id, RunState.WAITING_APPROVAL)
    outputs = suspension.request(node.resume).get("on_approve", [])
    _apply(session, run_id, node, _decided(node, outputs, now), RunState.QUEUED, now,
           f"node '{_where(node)}' approved{_who(user_id)}")


@_unit_of_work
def reject(session: Session, run_id: str, now: datetime, user_id: str | None = None,
           reason: str | None = None) -> None:
    """Reject a run in ``waiting_approval``: it is cancelled."""
    _run_in(session, run_id, RunState.WAITING_APPROVAL, user_id, "reject")
    node = _waiting_node(session, run_id, RunState.WAITING_APPROVAL)
    text = f"node '{_where(node)}' rejected{_who(user_id)}" + (f": {reason}" if reason else "")
    _apply(session, run_id, node, {
        "state": "rejected", "error": text, "completed_at": now,
        "wall_time_s": _waited(node, now)}, RunState.CANCELLED, now, text,
        error_detail=text)


@_unit_of_work
def complete_tool(session: Session, run_id: str, node_id: str, output: Any, now: datetime,
                  user_id: str | None = None) -> None:
    """Deliver a tool's ``output`` to the waiting node ``node_id``; the run is re-queued.

    A tool node waiting inside a sub-graph is named by the sub-graph node's id, or by
    its path (``sub/ask``).
    """
    _run_in(session, run_id, RunState.WAITING_TOOL, user_id, "complete")
    node = _waiting_node(session, run_id, RunState.WAITING_TOOL, node_id.split("/", 1)[0])
    if "/" in node_id and _where(node) != node_id:
        raise NotFound(f"run {run_id}: node '{node_id}' is not in waiting_tool (waiting: "
                       f"{_where(node)})")
    try:
        value = to_jsonable(output)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"the tool output for run {run_id} node '{node_id}' is not JSON "
                           f"data", [str(exc)]) from None
    pin = suspension.request(node.resume).get("result_pin", "result")
    _apply(session, run_id, node, _decided(node, [[pin, value]], now), RunState.QUEUED, now,
           f"tool result for node '{_where(node)}' delivered{_who(user_id)}")


def _waited(node: NodeRun, now: datetime) -> float | None:
    return (now - node.started_at).total_seconds() if node.started_at else None
