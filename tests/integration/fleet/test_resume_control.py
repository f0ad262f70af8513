"""Approve, reject and tool results through fleet.runs.control: re-sent and resumed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from fleet.engine.blocks.registry import default_registry
from fleet.errors import FleetError, NotFound
from fleet.runs import control
from fleet.runs.inline import run_inline
from fleet.runs.submit import submit
from fleet.settings import Settings
from fleet.store import graphs
from fleet.store import runs as store
from fleet.store.db import session_factory
from fleet.testing import RecordingSender

APPROVAL: dict[str, Any] = {
    "id": "gate",
    "nodes": [{"id": "ask", "block": "approval", "inputs": {"data": 42}},
              {"id": "after", "block": "constant"}],
    "links": [{"source": "ask.data", "sink": "after.value"}],
}


def _waiting(session: Session, engine: Engine, settings: Settings, now: datetime) -> str:
    graphs.add_version(session, graph_id="gate", user_id="alice", name="gate", description="",
                       definition=APPROVAL, timeout_s=60, max_attempts=3, now=now)
    session.commit()
    run = submit(session, graph_id="gate", version=None, inputs={}, user_id="alice", now=now,
                 send=RecordingSender(), registry=default_registry(), settings=settings)
    run_inline(session_factory(engine), run.id, registry=default_registry(), settings=settings)
    row = store.get(session, run.id, fresh=True)
    session.commit()
    assert row is not None and row.state == "waiting_approval"
    return run.id


def test_approve_requeues_and_sends(session: Session, engine: Engine, settings: Settings,
                                    now: datetime) -> None:
    run_id = _waiting(session, engine, settings, now)
    sender = RecordingSender()
    with pytest.raises(NotFound):
        control.approve(session, run_id, now=now, send=sender, user_id="mallory")
    out = control.approve(session, run_id, now=now, send=sender, user_id="alice")
    assert out.state == "queued" and sender.sent == [run_id]
    # It resumes from its checkpoint and completes.
    run_inline(session_factory(engine), run_id, registry=default_registry(), settings=settings)
    row = store.get(session, run_id, fresh=True)
    assert row is not None and row.state == "completed"


def test_approve_with_broker_down_stays_queued(session: Session, engine: Engine,
                                               settings: Settings, now: datetime) -> None:
    from datetime import timedelta

    run_id = _waiting(session, engine, settings, now)
    later = now + timedelta(minutes=5)
    out = control.approve(session, run_id, now=later, send=RecordingSender(fail=True))
    # Queued again, its send not recorded: the re-send sweep will pick it up.
    assert out.state == "queued" and out.queued_at == later and out.last_sent_at is None
    due = store.resend_due(later + timedelta(seconds=11), unsent_after_s=10, resend_after_s=120)
    assert store.unclaimed_since(session, due, 10) == [run_id]


def test_reject_cancels_and_a_second_decision_is_refused(
        session: Session, engine: Engine, settings: Settings, now: datetime) -> None:
    run_id = _waiting(session, engine, settings, now)
    assert control.reject(session, run_id, now=now).state == "cancelled"
    with pytest.raises(FleetError):
        control.approve(session, run_id, now=now, send=RecordingSender())
