"""Fixtures for the sweep tests: a context with recording doubles for every port."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlmodel import Session

from fleet.alerts.service import AlertService
from fleet.runtime.liveness import InMemoryLiveness
from fleet.settings import Settings
from fleet.store.models import Runtime
from fleet.sweeps.base import SweepContext
from fleet.testing import RecordingSender
from fleet.testing.alerts import RecordingChannel


class Clock:
    """A monotonic-seconds clock for InMemoryLiveness that tests move by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def channel() -> RecordingChannel:
    """The recording notification channel."""
    return RecordingChannel()


@pytest.fixture
def liveness() -> InMemoryLiveness:
    """In-memory liveness keys on a hand-moved clock."""
    return InMemoryLiveness(clock=Clock())


@pytest.fixture
def ctx(settings: Settings, channel: RecordingChannel, liveness: InMemoryLiveness) -> SweepContext:
    """A sweep context: recording sender, in-memory liveness, alerts to the recording channel."""
    alerts = AlertService.from_settings(
        settings.model_copy(update={"alert_urls_ops": ["json://ops.example/hook"],
                                    "alert_urls_product": ["json://product.example/hook"]}),
        channel=channel)
    return SweepContext(settings=settings, send_run=RecordingSender(), liveness=liveness,
                        alerts=alerts)


def make_runtime(session: Session, runtime_id: str, last_seen: datetime, *,
                 status: str = "online", offline_at: datetime | None = None) -> Runtime:
    """Insert a runtime row."""
    rt = Runtime(id=runtime_id, hostname="h", pid=1, status=status, registered_at=last_seen,
                 last_seen_at=last_seen, offline_at=offline_at)
    session.add(rt)
    session.commit()
    return rt
