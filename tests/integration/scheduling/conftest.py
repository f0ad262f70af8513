"""Builders for schedule tests: small graphs and a sweep context with recording ports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlmodel import Session

from fleet.settings import Settings
from fleet.store import graphs as graph_store
from fleet.store.models import Graph
from fleet.sweeps.base import SweepContext
from fleet.testing import RecordingSender


def definition(graph_id: str = "g1", *, block: str = "constant",
               inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """A one-node graph; ``block`` set to an unknown id makes it invalid."""
    d: dict[str, Any] = {"id": graph_id, "nodes": [{"id": "a", "block": block,
                                                    "inputs": {"value": 1}}]}
    if inputs is not None:
        d["inputs"] = inputs
    return d


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


class RecordingAlerts:
    """An AlertPort double that records what it was asked to fire."""

    def __init__(self) -> None:
        self.fired: list[dict[str, Any]] = []

    def fire(self, session: Session, now: datetime, *, kind: str, fingerprint: str,
             message: str, tag: str = "ops", user_id: str | None = None) -> None:
        self.fired.append({"kind": kind, "fingerprint": fingerprint, "message": message,
                           "tag": tag, "user_id": user_id})

    def resolve(self, session: Session, now: datetime, *, kind: str, message: str,
                fingerprint: str | None = None) -> None:
        return None


@pytest.fixture
def sender() -> RecordingSender:
    """Records the run ids the dispatcher sends."""
    return RecordingSender()


@pytest.fixture
def alerts() -> RecordingAlerts:
    """Records alerts."""
    return RecordingAlerts()


@pytest.fixture
def ctx(settings: Settings, sender: RecordingSender, alerts: RecordingAlerts) -> SweepContext:
    """A sweep context with recording sender and alerts."""
    return SweepContext(settings=settings, send_run=sender, alerts=alerts)
