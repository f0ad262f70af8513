"""The ports every service shares: protocols and value types of the bottom layer.

Services depend on these shapes, never on the modules that implement them:
the run sender is built by :mod:`fleet.worker.broker`, liveness by
:mod:`fleet.worker.liveness`, the alert port by :mod:`fleet.alerts.service`;
their in-memory doubles live in :mod:`fleet.testing`.

A system job is a plain function ``run_once(session, now, ctx) -> Report``
plus pure decision functions; the periodiq actors in ``schedules/``, the
worker's heartbeat and ``fleet sweep NAME`` all call it the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlmodel import Session

from fleet.settings import Settings

RunSender = Callable[[str], None]
"""Hands one run id to the broker (raises when the broker is unreachable)."""

BatchSender = Callable[[Sequence[str]], None]
"""Hands many run ids to the broker in one round trip (raises when it is unreachable)."""


class Liveness(Protocol):
    """Where runtimes say they are alive (Redis keys with a TTL in production)."""

    def beat(self, runtime_id: str, ttl_s: float) -> None:
        """Mark ``runtime_id`` alive for ``ttl_s`` seconds."""

    def alive(self, runtime_ids: Sequence[str]) -> dict[str, bool]:
        """Which of ``runtime_ids`` have a live key. Raises when the store errors."""
        ...

    def forget(self, runtime_id: str) -> None:
        """Remove the key (graceful shutdown)."""


class AlertPort(Protocol):
    """Where jobs raise and clear alerts (implemented by ``fleet.alerts``)."""

    def fire(self, session: Session, now: datetime, *, kind: str, fingerprint: str,
             message: str, tag: str = "ops", user_id: str | None = None) -> Any:
        """Record (and deliver unless already sent recently) a firing alert."""
        ...

    def resolve(self, session: Session, now: datetime, *, kind: str,
                message: str, fingerprint: str | None = None) -> Any:
        """Clear a firing alert of ``kind`` (one fingerprint, or all), sending a resolved note."""
        ...


@runtime_checkable
class DeliveryPort(Protocol):
    """Sends the alert notifications that are due (implemented by ``fleet.alerts``)."""

    def deliver(self, session: Session, now: datetime) -> Any:
        """Send every delivery due at ``now``, recording each outcome."""
        ...


@runtime_checkable
class NoticePort(Protocol):
    """One-off notices (daily and weekly summaries): sent once per fingerprint."""

    def notify(self, session: Session, now: datetime, *, kind: str, fingerprint: str,
               message: str, tag: str = "ops", user_id: str | None = None) -> Any:
        """Record and deliver a notice unless ``(kind, fingerprint)`` was already sent."""
        ...


def _drop(_run_id: str) -> None:
    """The default sender: sends nothing (the re-send sweep picks runs up later)."""


@dataclass
class JobContext:
    """The ports a system job may use; built once per process by the entry point."""

    settings: Settings
    send_run: RunSender = _drop
    liveness: Liveness | None = None
    alerts: AlertPort | None = None
    send_many: BatchSender | None = None  # many runs in one broker round trip, when it can


class Report:
    """Base of every job's report: a one-line summary and a JSON-able dict."""

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return f"{type(self).__name__}: {self.to_dict()}"

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        if dataclasses.is_dataclass(self):
            return dataclasses.asdict(self)
        return dict(vars(self))


@dataclass(frozen=True)
class JobSpec:
    """One system job as the registry, the CLI and periodiq see it."""

    name: str
    description: str
    cron_setting: str  # name of the Settings attribute holding its cron spec (UTC)
    run_once: Callable[[Session, datetime, JobContext], Report]
    tags: tuple[str, ...] = field(default_factory=tuple)
