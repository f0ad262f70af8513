"""Entry point of ``periodiq schedules.main`` (and of the system worker).

Boots the process's application from the environment, pins periodiq's clock
to UTC (the cadence settings are UTC) and declares the periodic actors.
"""

from __future__ import annotations

import pendulum

from fleet.worker.app import boot
from fleet.worker.startup import is_scheduler_process, start_jobs
from fleet.worker.wiring import job_context
from schedules import declare

# periodiq reads pendulum.now() in the local zone; the cadences are UTC.
pendulum.set_local_timezone(pendulum.UTC)

APP = boot()
ACTORS = declare(APP)

# The search coverage job also runs once at scheduler start-up, in a daemon thread so that
# start-up never waits for it (SPEC §8). Workers import this module too: only the periodiq
# process starts it.
STARTUP = (start_jobs(lambda: job_context(APP.settings, broker=APP.broker), APP.runtime.engine)
           if is_scheduler_process() else [])
