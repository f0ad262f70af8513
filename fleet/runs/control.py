"""Acting on a run: cancel, approve, reject, complete a tool call, retry.

Cancel: a queued or waiting run is cancelled at once; a running one gets
``cancel_requested`` and its worker stops it at the next node boundary (the
heartbeat and the executor both look). Approve and complete-tool put a
waiting run back to queued through :mod:`fleet.runs.resume`, then send it
(:func:`fleet.runs.sending.send_and_record`): it resumes from its checkpoint.
Retry runs a finished run again as a new run linked to the old one.

Another user's run is answered exactly as a missing one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.engine.blocks.registry import BlockRegistry
from fleet.errors import FleetError, IllegalTransition, InvalidInput, LeaseLost, NotFound
from fleet.ports import RunSender
from fleet.runs import fsm, resume
from fleet.runs.sending import send_and_record
from fleet.runs.submit import submit
from fleet.settings import Settings
from fleet.store import runs as store
from fleet.store.db import begin_write
from fleet.store.models import TERMINAL_STATES, Run, RunEvent, RunState


def visible(session: Session, run_id: str, user_id: str | None) -> Run:
    """The run, if it exists and ``user_id`` (None: anyone, an operator) may see it."""
    run = store.get(session, run_id, fresh=True)
    if run is None or (user_id is not None and run.user_id != user_id):
        raise NotFound(f"run {run_id} does not exist"
                       + (f" for user '{user_id}'" if user_id else "")
                       + "; list runs with `fleet runs list`")
    return run


def _final(session: Session, run_id: str, user_id: str | None) -> Run:
    """The run as it is now, with the read transaction closed."""
    run = visible(session, run_id, user_id)
    session.commit()
    return run


def cancel(session: Session, run_id: str, *, now: datetime, user_id: str | None = None) -> Run:
    """Cancel ``run_id``: at once when queued or waiting, at the next node when running."""
    for _ in range(5):  # the run may move between our read and our write
        if session.in_transaction():
            session.rollback()
        begin_write(session, "cancel")  # SQLite: the deciding read holds the write lock
        run = visible(session, run_id, user_id)
        state = RunState(run.state)
        if state in TERMINAL_STATES:
            session.rollback()
            raise InvalidInput(f"run {run_id} is already {state.value}; nothing to cancel",
                               [f"run {run_id} is {state.value}"])
        if state is RunState.RUNNING:
            if run.cancel_requested:
                session.commit()
                return run
            changed = store.update_where(session, [run_id], from_states=[state.value],
                                         values={"cancel_requested": True})
            if changed:
                store.add_events(session, [RunEvent(run_id=run_id, at=now, kind="note",
                                                    detail="cancel requested")])
                session.commit()
                return _final(session, run_id, user_id)
            session.rollback()
            continue
        try:
            fsm.transition(session, run_id, RunState.CANCELLED, now, detail="cancelled",
                           cancel_requested=True)
        except (IllegalTransition, LeaseLost):
            session.rollback()
            continue
        session.commit()
        return _final(session, run_id, user_id)
    raise FleetError(f"run {run_id} kept changing state while being cancelled; try again")


def _resumed(session: Session, run_id: str, send: RunSender, now: datetime,
             user_id: str | None) -> Run:
    run = _final(session, run_id, user_id)
    if run.state == RunState.QUEUED.value:
        send_and_record(session, [run_id], now, send)
        run = _final(session, run_id, user_id)
    return run


def approve(session: Session, run_id: str, *, now: datetime, send: RunSender,
            user_id: str | None = None) -> Run:
    """Approve a run waiting for approval; it is re-sent and resumes from its checkpoint."""
    visible(session, run_id, user_id)
    session.rollback()
    resume.approve(session, run_id, now=now, user_id=user_id)
    return _resumed(session, run_id, send, now, user_id)


def reject(session: Session, run_id: str, *, now: datetime,
           user_id: str | None = None) -> Run:
    """Reject a run waiting for approval (it is cancelled)."""
    visible(session, run_id, user_id)
    session.rollback()
    resume.reject(session, run_id, now=now, user_id=user_id)
    return _final(session, run_id, user_id)


def complete_tool(session: Session, run_id: str, *, node_id: str, output: Any, now: datetime,
                  send: RunSender, user_id: str | None = None) -> Run:
    """Deliver a tool result to a run waiting for it; it is re-sent and resumes."""
    visible(session, run_id, user_id)
    session.rollback()
    resume.complete_tool(session, run_id, node_id=node_id, output=output, now=now,
                         user_id=user_id)
    return _resumed(session, run_id, send, now, user_id)


def retry(session: Session, run_id: str, *, now: datetime, send: RunSender,
          registry: BlockRegistry, settings: Settings, user_id: str | None = None,
          inputs: dict[str, Any] | None = None) -> Run:
    """Run a finished run again as a new run linked to it (``retry_of``); returns the new run.

    The new run takes the same graph version and the old inputs, with ``inputs``
    (if given) replacing the named ones; it is checked like any submission.
    """
    old = visible(session, run_id, user_id)
    if RunState(old.state) not in TERMINAL_STATES:
        session.rollback()
        raise InvalidInput(f"run {run_id} is {old.state}; only a finished run can be retried "
                           "(cancel it first)", [f"run {run_id} is {old.state}"])
    merged = {**(old.inputs or {}), **(inputs or {})}
    graph_id, version, owner = old.graph_id, old.graph_version, old.user_id
    credentials = dict(old.credentials or {})  # a retry keeps the run's credentials (issue 17)
    session.rollback()
    return submit(session, graph_id=graph_id, version=version, inputs=merged, user_id=owner,
                  now=now, send=send, registry=registry, settings=settings, retry_of=run_id,
                  credentials=credentials)
