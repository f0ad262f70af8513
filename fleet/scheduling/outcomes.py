"""Log lines of schedule outcomes (APScheduler's listener equivalents).

``fired`` (executed), ``failed`` (error), ``missed`` (missed), ``skipped``
(max-instances / overlap). The durable record, which the metrics endpoint
counts, is the ``schedule_fires`` table; this module says the same in the log.
"""

from __future__ import annotations

import logging
from datetime import datetime

log = logging.getLogger("fleet.scheduling")

OUTCOMES = ("fired", "missed", "skipped", "failed")


def logged(outcome: str) -> bool:
    """Whether a line of ``outcome`` would be logged at all (callers skip building many)."""
    return log.isEnabledFor(logging.INFO if outcome == "fired" else logging.WARNING)


def record(outcome: str, schedule_id: str, scheduled_for: datetime | None, detail: str,
           *, count: int = 1) -> None:
    """Log ``count`` outcomes of one kind as one line: INFO when fired, WARNING otherwise."""
    level = logging.INFO if outcome == "fired" else logging.WARNING
    when = scheduled_for.isoformat() if scheduled_for is not None else "-"
    many = f" ({count} instants)" if count > 1 else ""
    log.log(level, "schedule %s %s at %s%s: %s", schedule_id, outcome, when, many, detail)
