"""Clocks that only move when told to: the doubles of :mod:`fleet.clock`."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta


class FixedClock:
    """A UTC clock (``() -> datetime``) that only moves when told to."""

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


class MonotonicClock:
    """A seconds counter (``() -> float``, as ``time.monotonic``) moved by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        """Move forward and return the new reading."""
        self.t += seconds
        return self.t
