"""Run one system job by name: shared by ``fleet sweep``, the periodiq actors and ``fleet dev``.

Opens its own session on the given engine, reads the clock once, runs the
job's ``run_once`` with database retries, and logs its report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from fleet.clock import utcnow
from fleet.ports import JobContext, Report
from fleet.store.db import with_retry
from fleet.sweeps import registry

log = logging.getLogger(__name__)


def run_sweep(name: str, ctx: JobContext, engine: Engine, *,
              clock: Callable[[], datetime] = utcnow) -> Report:
    """Run the system job ``name`` once and return its report (NotFound for an unknown name)."""
    spec = registry.get(name)

    def _once() -> Report:
        with Session(engine, expire_on_commit=False) as session:
            return spec.run_once(session, clock(), ctx)

    report = with_retry(_once, what=f"sweep {name}")
    log.info("%s", report.summary())
    return report
