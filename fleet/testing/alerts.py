"""Alert doubles: a recording notification channel and a recording alert port."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.alerts.channels import Delivery


@dataclass(frozen=True)
class Sent:
    """One notification the channel was asked to send."""

    urls: tuple[str, ...]
    title: str
    body: str


class RecordingChannel:
    """The double of :class:`fleet.alerts.channels.Channel`.

    Records every send; ``fail=True`` makes sends fail like an unreachable
    endpoint, and ``fail_urls`` makes only those destinations fail.
    """

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[Sent] = []
        self.attempts = 0
        self.fail = fail
        self.fail_urls: set[str] = set()
        self._lock = threading.Lock()

    def send(self, urls: Sequence[str], title: str, body: str) -> Delivery:
        with self._lock:
            self.attempts += 1
            if self.fail or any(u in self.fail_urls for u in urls):
                return Delivery(False, "endpoint unavailable (RecordingChannel.fail is set)")
            self.sent.append(Sent(tuple(urls), title, body))
            return Delivery(True, f"recorded for {len(urls)} URL(s)")

    def titles(self) -> list[str]:
        """The titles sent so far, in order."""
        with self._lock:
            return [s.title for s in self.sent]


class RecordingAlerts:
    """The double of :class:`fleet.ports.AlertPort`: records what it was asked to do."""

    def __init__(self) -> None:
        self.fired: list[dict[str, Any]] = []
        self.resolved: list[dict[str, Any]] = []

    def fire(self, session: Session, now: datetime, *, kind: str, fingerprint: str,
             message: str, tag: str = "ops", user_id: str | None = None) -> None:
        self.fired.append({"kind": kind, "fingerprint": fingerprint, "message": message,
                           "tag": tag, "user_id": user_id, "at": now})

    def resolve(self, session: Session, now: datetime, *, kind: str, message: str,
                fingerprint: str | None = None) -> None:
        self.resolved.append({"kind": kind, "fingerprint": fingerprint, "message": message,
                              "at": now})
