"""Run one system job by name: shared by ``fleet sweep``, the periodiq actors and ``fleet dev``.

Opens its own session on the given engine, reads the clock once, records the
start in ``system_jobs``, runs the job's ``run_once`` with database retries,
and records the end (outcome, duration, report or error) and logs the report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from fleet.clock import utcnow
from fleet.ports import JobContext, Report
from fleet.store import jobs as store
from fleet.store.clock import read_now
from fleet.store.db import with_retry
from fleet.sweeps import registry

log = logging.getLogger(__name__)


def _record(engine: Engine, write: Callable[[Session], None], what: str) -> None:
    """Record in ``system_jobs``; a failure to record is logged, never fatal."""
    def _once() -> None:
        with Session(engine) as session:
            write(session)
            session.commit()
    try:
        with_retry(_once, attempts=3, what=what)
    except Exception as exc:
        log.warning("%s not recorded (%s)", what, type(exc).__name__)


def _db_clock(engine: Engine) -> datetime:
    """The database's current time: jobs decide on the same clock as the leases."""
    try:
        with Session(engine) as session:
            return read_now(session)
    except Exception:  # the job's own retries report the outage; it decides on ours
        return utcnow()


def run_sweep(name: str, ctx: JobContext, engine: Engine, *,
              clock: Callable[[], datetime] | None = None) -> Report:
    """Run the system job ``name`` once and return its report (NotFound for an unknown name).

    ``now`` is the database's clock unless a ``clock`` is given (tests).
    """
    spec = registry.get(name)
    clock = clock or (lambda: _db_clock(engine))
    now = clock()
    _record(engine, lambda s: store.started(s, name, now), f"start of job {name}")
    t0 = time.perf_counter()

    def _once() -> Report:
        with Session(engine, expire_on_commit=False) as session:
            return spec.run_once(session, now, ctx)

    try:
        report = with_retry(_once, what=f"sweep {name}",
                            budget_s=ctx.settings.db_outage_budget_s)
    except Exception as exc:
        took = time.perf_counter() - t0
        error = f"{type(exc).__name__}: {exc}"[:2000]
        _record(engine, lambda s: store.finished(s, name, clock(), ok=False, duration_s=took,
                                                 error=error), f"end of job {name}")
        raise
    took = time.perf_counter() - t0
    _record(engine, lambda s: store.finished(s, name, clock(), ok=True, duration_s=took,
                                             report=report.to_dict()), f"end of job {name}")
    log.info("%s (%.2fs)", report.summary(), took)
    return report


def record_skip(engine: Engine, name: str, now: datetime) -> None:
    """Count a stale message of job ``name`` that was skipped."""
    _record(engine, lambda s: store.skipped(s, name, now), f"skip of job {name}")
