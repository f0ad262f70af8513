"""Approval and tool blocks suspend the run without a worker; resuming carries on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from fleet.engine.blocks.registry import BlockRegistry
from fleet.errors import NotFound, NotWaiting
from fleet.runs import resume
from fleet.runs.inline import run_inline
from fleet.settings import Settings
from fleet.store import node_runs
from fleet.store import runs as run_store
from fleet.store.models import Run
from tests.integration.runs.conftest import Probe

Opener = Callable[[], Session]

APPROVAL = {
    "id": "needs-ok",
    "nodes": [
        {"id": "before", "block": "count", "inputs": {"value": "payload"}},
        {"id": "ok", "block": "approval", "inputs": {"message": "ship it?"}},
        {"id": "after", "block": "count"},
    ],
    "links": [{"source": "before.value", "sink": "ok.data"},
              {"source": "ok.data", "sink": "after.value"}],
}

TOOL = {
    "id": "asks-tool",
    "nodes": [
        {"id": "ask", "block": "tool", "inputs": {"tool": "search", "args": {"q": "fleet"}}},
        {"id": "pick", "block": "json_field", "inputs": {"path": "hits.0"}},
    ],
    "links": [{"source": "ask.result", "sink": "pick.data"}],
    "outputs": {"first": "pick.value"},
}


def _row(open_session: Opener, run_id: str) -> Run:
    with open_session() as s:
        row = run_store.get(s, run_id)
        assert row is not None
        return row


def _run(open_session: Opener, run_id: str, registry: BlockRegistry, settings: Settings,
         at: datetime) -> Any:
    return run_inline(open_session, run_id, registry=registry, settings=settings,
                      clock=lambda: at)


def test_approval_suspends_then_approve_continues(
        open_session: Opener, session: Session, submit: Any, registry: BlockRegistry,
        settings: Settings, probe: Probe, now: datetime) -> None:
    run = submit(APPROVAL)
    out = _run(open_session, run.id, registry, settings, now)
    row = _row(open_session, run.id)
    assert out.state == row.state == "waiting_approval"
    assert row.lease_id is None and "ship it?" in (row.waiting_reason or "")
    assert probe.calls == {"before": 1}

    later = now + timedelta(minutes=5)
    resume.approve(session, run.id, later, user_id="alice")
    row = _row(open_session, run.id)
    assert row.state == "queued" and row.queued_at == later

    out = _run(open_session, run.id, registry, settings, later)
    assert out.state == "completed" and out.replayed == 2 and out.executed == 1
    assert probe.calls == {"before": 1, "after": 1}
    assert _row(open_session, run.id).outputs == {"after.value": "payload"}
    with open_session() as s:
        ok = next(n for n in node_runs.for_run(s, run.id) if n.node_id == "ok")
    assert ok.state == "completed" and ok.outputs == [["approved", True], ["data", "payload"]]


def test_reject_cancels(open_session: Opener, session: Session, submit: Any,
                        registry: BlockRegistry, settings: Settings, probe: Probe,
                        now: datetime) -> None:
    run = submit(APPROVAL)
    _run(open_session, run.id, registry, settings, now)
    resume.reject(session, run.id, now, user_id="alice", reason="not today")
    row = _row(open_session, run.id)
    assert row.state == "cancelled" and "not today" in (row.error_detail or "")
    assert "after" not in probe.calls


def test_tool_suspends_then_result_continues(
        open_session: Opener, session: Session, submit: Any, registry: BlockRegistry,
        settings: Settings, now: datetime) -> None:
    run = submit(TOOL)
    assert _run(open_session, run.id, registry, settings, now).state == "waiting_tool"
    with open_session() as s:
        waiting = node_runs.waiting(s, run.id, "waiting_tool")
    assert [w.node_id for w in waiting] == ["ask"]
    assert waiting[0].resume == {"kind": "tool", "tool": "search", "args": {"q": "fleet"},
                                 "result_pin": "result"}

    with pytest.raises(NotFound, match="node 'pick'"):
        resume.complete_tool(session, run.id, "pick", {}, now)
    resume.complete_tool(session, run.id, "ask", {"hits": ["a", "b"]}, now)
    assert _row(open_session, run.id).state == "queued"
    out = _run(open_session, run.id, registry, settings, now)
    assert out.state == "completed" and out.outputs == {"first": "a"}


def test_wrong_state_and_wrong_user_change_nothing(
        open_session: Opener, session: Session, submit: Any, registry: BlockRegistry,
        settings: Settings, now: datetime) -> None:
    run = submit(APPROVAL)
    with pytest.raises(NotWaiting, match="queued, not waiting_approval"):
        resume.approve(session, run.id, now)
    _run(open_session, run.id, registry, settings, now)
    with pytest.raises(NotFound):  # another user's run looks missing
        resume.approve(session, run.id, now, user_id="mallory")
    with pytest.raises(NotWaiting, match="waiting_tool"):
        resume.complete_tool(session, run.id, "ok", 1, now)
    with pytest.raises(NotFound):
        resume.approve(session, "no-such-run", now)
    row = _row(open_session, run.id)
    assert row.state == "waiting_approval"
    with open_session() as s:
        assert [n.node_id for n in node_runs.waiting(s, run.id, "waiting_approval")] == ["ok"]
    resume.approve(session, run.id, now)
    with pytest.raises(NotWaiting):
        resume.approve(session, run.id, now)  # a second approval is refused
