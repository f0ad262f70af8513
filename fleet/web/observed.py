"""What the shared snapshot holds: the overview and the stored counters, read together."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from fleet.observe import counters, snapshot
from fleet.observe.counters import Sample
from fleet.observe.snapshot import Overview
from fleet.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Observed:
    """One refresh of the fleet's figures."""

    overview: Overview
    counters: list[Sample] = field(default_factory=list)
    queue_name: str = "fleet"


def load(open_session: Callable[[], AbstractContextManager[Session]], now: datetime,
         settings: Settings) -> Observed:
    """Count what appeared into the stored counters, then read them and the overview."""
    with open_session() as session:
        try:
            counters.refresh(session, now, settings.web_metrics_settle_s)
        except Exception:  # the counters wait for the next refresh; the overview still loads
            session.rollback()
            log.exception("counting /metrics counters failed; retrying at the next refresh")
        samples = counters.read(session)
        overview = snapshot.take(session, now, settings)
    return Observed(overview, samples, settings.queue_name)
