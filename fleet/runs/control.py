"""Acting on a run: cancel, approve, reject, complete a tool call.

Cancel: a queued or waiting run is cancelled at once; a running one gets
``cancel_requested`` and its worker stops it at the next node boundary (the
heartbeat and the engine both look). Approve and complete-tool put a waiting
run back to queued through the engine's resume functions; the caller's sender
then re-sends it and it resumes from its checkpoint.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.errors import FleetError, IllegalTransition, InvalidInput, LeaseLost, NotFound
from fleet.runs import fsm
from fleet.runs.submit import send_run
from fleet.store import runs as store
from fleet.store.models import TERMINAL_STATES, Run, RunEvent, RunState
from fleet.sweeps.base import RunSender

log = logging.getLogger(__name__)


def _visible(session: Session, run_id: str, user_id: str | None) -> Run:
    run = store.get(session, run_id, fresh=True)
    if run is None or (user_id is not None and run.user_id != user_id):
        raise NotFound(f"run {run_id} does not exist"
                       + (f" for user '{user_id}'" if user_id else "")
                       + "; list runs with `fleet runs list`")
    return run


def _final(session: Session, run_id: str, user_id: str | None) -> Run:
    """The run as it is now, with the read transaction closed."""
    run = _visible(session, run_id, user_id)
    session.commit()
    return run


def cancel(session: Session, run_id: str, *, now: datetime, user_id: str | None = None) -> Run:
    """Cancel ``run_id``: at once when queued or waiting, at the next node when running."""
    for _ in range(5):  # the run may move between our read and our write
        run = _visible(session, run_id, user_id)
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


def _after_resume(session: Session, run_id: str, send: RunSender, now: datetime,
                  user_id: str | None) -> Run:
    session.commit()
    run = _final(session, run_id, user_id)
    if run.state == RunState.QUEUED.value:
        return send_run(session, run, send, now)
    return run


def approve(session: Session, run_id: str, *, now: datetime, send: RunSender,
            user_id: str | None = None) -> Run:
    """Approve a run waiting for approval; it is re-sent and resumes from its checkpoint."""
    from fleet.engine import resume

    _visible(session, run_id, user_id)
    session.rollback()
    resume.approve(session, run_id, now=now, user_id=user_id)
    return _after_resume(session, run_id, send, now, user_id)


def reject(session: Session, run_id: str, *, now: datetime,
           user_id: str | None = None) -> Run:
    """Reject a run waiting for approval (it is cancelled)."""
    from fleet.engine import resume

    _visible(session, run_id, user_id)
    session.rollback()
    resume.reject(session, run_id, now=now, user_id=user_id)
    session.commit()
    return _final(session, run_id, user_id)


def complete_tool(session: Session, run_id: str, *, node_id: str, output: Any, now: datetime,
                  send: RunSender, user_id: str | None = None) -> Run:
    """Deliver a tool result to a run waiting for it; it is re-sent and resumes."""
    from fleet.engine import resume

    _visible(session, run_id, user_id)
    session.rollback()
    resume.complete_tool(session, run_id, node_id=node_id, output=output, now=now,
                         user_id=user_id)
    return _after_resume(session, run_id, send, now, user_id)
