"""Run one system job by name: shared by ``fleet sweep`` and the periodiq actors.

Opens its own session on the configured database, reads the clock once, runs
the job's ``run_once`` with database retries, and logs its report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from fleet.clock import utcnow
from fleet.settings import Settings
from fleet.store.db import make_engine, with_retry
from fleet.sweeps import registry
from fleet.sweeps.base import Report, SweepContext

log = logging.getLogger(__name__)

_engines: dict[str, Engine] = {}


def _engine(settings: Settings) -> Engine:
    # One engine (connection pool) per database URL per process, not per tick.
    url = settings.database_url
    if url not in _engines:
        _engines[url] = make_engine(url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    return _engines[url]


def run_sweep(name: str, settings: Settings, ctx: SweepContext, *,
              engine: Engine | None = None, clock: Callable[[], datetime] = utcnow) -> Report:
    """Run the system job ``name`` once and return its report (NotFound for an unknown name)."""
    spec = registry.get(name)
    eng = engine if engine is not None else _engine(settings)

    def _once() -> Report:
        with Session(eng, expire_on_commit=False) as session:
            return spec.run_once(session, clock(), ctx)

    report = with_retry(_once, what=f"sweep {name}")
    log.info("%s", report.summary())
    return report
