"""Counts and log lines of schedule outcomes (APScheduler's listener equivalents).

``fired`` (executed), ``failed`` (error), ``missed`` (missed), ``skipped``
(max-instances / overlap). The counts are per process, for the metrics
endpoint (``fleet_schedule_fires_total{outcome}``); the durable record is the
``schedule_fires`` table.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import datetime

log = logging.getLogger("fleet.scheduling")

OUTCOMES = ("fired", "missed", "skipped", "failed")


class FireCounters:
    """Thread-safe totals of schedule outcomes in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, outcome: str, n: int = 1) -> None:
        """Count ``n`` outcomes of one kind."""
        if n:
            with self._lock:
                self._counts[outcome] += n

    def snapshot(self) -> dict[str, int]:
        """Every outcome's total so far (the four of OUTCOMES always present)."""
        with self._lock:
            return {**dict.fromkeys(OUTCOMES, 0), **self._counts}

    def reset(self) -> None:
        """Start from zero (tests)."""
        with self._lock:
            self._counts.clear()


COUNTERS = FireCounters()


def record(outcome: str, schedule_id: str, scheduled_for: datetime | None, detail: str,
           *, count: int = 1, counters: FireCounters = COUNTERS) -> None:
    """Count ``count`` outcomes of one kind and log them as one line at their level."""
    counters.add(outcome, count)
    level = logging.INFO if outcome == "fired" else logging.WARNING
    when = scheduled_for.isoformat() if scheduled_for is not None else "-"
    log.log(level, "schedule %s %s at %s: %s", schedule_id, outcome, when, detail)
