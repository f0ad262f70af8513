"""Fixtures for the sweep tests: a context with recording doubles for every port."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlmodel import Session

from fleet.alerts.service import AlertService
from fleet.ports import JobContext
from fleet.settings import Settings
from fleet.store.models import Runtime
from fleet.testing import InMemoryLiveness, MonotonicClock, RecordingSender
from fleet.testing.alerts import RecordingChannel


@pytest.fixture
def channel() -> RecordingChannel:
    """The recording notification channel."""
    return RecordingChannel()


@pytest.fixture
def liveness() -> InMemoryLiveness:
    """In-memory liveness keys on a hand-moved clock."""
    return InMemoryLiveness(clock=MonotonicClock())


@pytest.fixture
def ctx(settings: Settings, channel: RecordingChannel, liveness: InMemoryLiveness) -> JobContext:
    """A sweep context: recording sender, in-memory liveness, alerts to the recording channel."""
    alerts = AlertService.from_settings(
        settings.model_copy(update={"alert_urls_ops": ["json://ops.example/hook"],
                                    "alert_urls_product": ["json://product.example/hook"]}),
        channel=channel)
    return JobContext(settings=settings, send_run=RecordingSender(), liveness=liveness,
                        alerts=alerts)


def make_runtime(session: Session, runtime_id: str, last_seen: datetime, *,
                 status: str = "online", offline_at: datetime | None = None) -> Runtime:
    """Insert a runtime row."""
    rt = Runtime(id=runtime_id, hostname="h", pid=1, status=status, registered_at=last_seen,
                 last_seen_at=last_seen, offline_at=offline_at)
    session.add(rt)
    session.commit()
    return rt
