"""A recording notification channel: the double of :class:`fleet.alerts.channels.Channel`."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from fleet.alerts.channels import Delivery


@dataclass(frozen=True)
class Sent:
    """One notification the channel was asked to send."""

    urls: tuple[str, ...]
    title: str
    body: str


class RecordingChannel:
    """Records every send; ``fail=True`` makes sends fail like an unreachable endpoint."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[Sent] = []
        self.attempts = 0
        self.fail = fail
        self._lock = threading.Lock()

    def send(self, urls: Sequence[str], title: str, body: str) -> Delivery:
        with self._lock:
            self.attempts += 1
            if self.fail:
                return Delivery(False, "endpoint unavailable (RecordingChannel.fail is set)")
            self.sent.append(Sent(tuple(urls), title, body))
            return Delivery(True, f"recorded for {len(urls)} URL(s)")

    def titles(self) -> list[str]:
        """The titles sent so far, in order."""
        with self._lock:
            return [s.title for s in self.sent]
