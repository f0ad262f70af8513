"""Builders for schedule tests: small graphs and a sweep context with recording ports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlmodel import Session

from fleet.engine.blocks.registry import default_registry
from fleet.ports import JobContext
from fleet.scheduling import service
from fleet.settings import Settings
from fleet.store import graphs as graph_store
from fleet.store.models import Graph, Schedule
from fleet.testing import RecordingAlerts, RecordingSender


def definition(graph_id: str = "g1", *, block: str = "constant",
               inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """A one-node graph; ``block`` set to an unknown id makes it invalid."""
    d: dict[str, Any] = {"id": graph_id, "nodes": [{"id": "a", "block": block,
                                                    "inputs": {"value": 1}}]}
    if inputs is not None:
        d["inputs"] = inputs
    return d


SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]
REG = default_registry()


def add_schedule(session: Session, now: datetime, **kw: Any) -> Schedule:
    """``service.add`` with default settings and blocks."""
    return service.add(session, now, settings=kw.pop("settings", SETTINGS), registry=REG, **kw)


def resume(session: Session, schedule_id: str, user: str | None, now: datetime) -> Schedule:
    """``service.resume`` with default settings and blocks."""
    return service.resume(session, schedule_id, user, now, settings=SETTINGS, registry=REG)


def run_now(session: Session, schedule_id: str, user: str | None, now: datetime,
            send: Any = None) -> str:
    """``service.run_now`` with default settings and blocks (a recording sender by default)."""
    return service.run_now(session, schedule_id, user, now, settings=SETTINGS, registry=REG,
                           send=send if send is not None else RecordingSender())


def make_graph(session: Session, now: datetime, graph_id: str = "g1", *, user_id: str = "alice",
               block: str = "constant", inputs: dict[str, Any] | None = None,
               max_attempts: int = 2, timeout_s: float = 600.0) -> Graph:
    """Store a graph version and commit."""
    graph = graph_store.add_version(
        session, graph_id=graph_id, user_id=user_id, name=graph_id, description="",
        definition=definition(graph_id, block=block, inputs=inputs), timeout_s=timeout_s,
        max_attempts=max_attempts, now=now)
    session.commit()
    return graph


@pytest.fixture
def sender() -> RecordingSender:
    """Records the run ids the dispatcher sends."""
    return RecordingSender()


@pytest.fixture
def alerts() -> RecordingAlerts:
    """Records alerts."""
    return RecordingAlerts()


@pytest.fixture
def ctx(settings: Settings, sender: RecordingSender, alerts: RecordingAlerts) -> JobContext:
    """A sweep context with recording sender and alerts."""
    return JobContext(settings=settings, send_run=sender, alerts=alerts)
