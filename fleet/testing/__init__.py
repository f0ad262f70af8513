"""In-memory doubles shipped with fleet, used by tests and by ``fleet dev``.

Each external port has one here: the clock (:class:`FixedClock`), the run
sender (:class:`RecordingSender`). Throwaway real servers for integration
tests live in :mod:`fleet.testing.servers`.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward and return the new instant."""
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, value: datetime) -> None:
        """Jump to ``value``."""
        with self._lock:
            self._now = value


class RecordingSender:
    """A run sender that records the run ids it was asked to send.

    ``fail=True`` makes every send raise, as a broker outage would.
    """

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[str] = []
        self.fail = fail

    def __call__(self, run_id: str) -> None:
        if self.fail:
            raise ConnectionError("broker unavailable (RecordingSender.fail is set)")
        self.sent.append(run_id)
