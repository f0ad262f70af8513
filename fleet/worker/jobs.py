"""Run one system job by name: shared by ``fleet sweep``, the periodiq actors and ``fleet dev``.

Opens its own session on the given engine, reads the clock once, runs the
job's ``run_once`` with database retries, and logs its report.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
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


STARTUP_JOBS = ("search_coverage",)
"""Jobs that also run once when the scheduler starts (SPEC §8), in the background."""


def is_scheduler_process(argv: list[str] | None = None) -> bool:
    """Whether this process is periodiq's scheduler (not a worker importing the same module)."""
    args = sys.argv if argv is None else argv
    return bool(args) and os.path.basename(args[0]).startswith("periodiq")


def start_in_background(name: str, context: Callable[[], JobContext], engine: Engine, *,
                        clock: Callable[[], datetime] = utcnow) -> threading.Thread:
    """Run the job ``name`` once in a daemon thread: start-up goes on without waiting for it.

    A failure is logged (the job's regular cadence runs it again).
    """
    def _run() -> None:
        try:
            run_sweep(name, context(), engine, clock=clock)
        except Exception:
            log.exception("start-up run of system job %s failed; its schedule runs it again",
                          name)

    thread = threading.Thread(target=_run, name=f"fleet-startup-{name}", daemon=True)
    thread.start()
    return thread
