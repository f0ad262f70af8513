"""System jobs that also run once when the scheduler starts, in the background (SPEC §8).

``schedules.main`` (in periodiq's process only: the workers import that module
too) and ``fleet dev`` start each job of :data:`STARTUP_JOBS` in a daemon
thread, so start-up never waits for it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from fleet.clock import utcnow
from fleet.ports import JobContext
from fleet.worker.jobs import run_sweep

log = logging.getLogger(__name__)

STARTUP_JOBS = ("search_coverage",)
"""Jobs that also run once when the scheduler starts."""


def is_scheduler_process(argv: list[str] | None = None) -> bool:
    """Whether this process is periodiq's scheduler (not a worker importing the same module)."""
    args = sys.argv if argv is None else argv
    return bool(args) and os.path.basename(args[0]).startswith("periodiq")


def start_in_background(name: str, context: Callable[[], JobContext], engine: Engine, *,
                        clock: Callable[[], datetime] = utcnow) -> threading.Thread:
    """Run the job ``name`` once in a daemon thread; a failure is logged (its cadence retries)."""
    def _run() -> None:
        try:
            run_sweep(name, context(), engine, clock=clock)
        except Exception:
            log.exception("start-up run of system job %s failed; its schedule runs it again",
                          name)

    thread = threading.Thread(target=_run, name=f"fleet-startup-{name}", daemon=True)
    thread.start()
    return thread


def start_jobs(context: Callable[[], JobContext], engine: Engine) -> list[threading.Thread]:
    """Start every job of :data:`STARTUP_JOBS` in the background."""
    return [start_in_background(name, context, engine) for name in STARTUP_JOBS]
