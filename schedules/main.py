"""Entry point of ``periodiq schedules.main`` (and of the system worker).

Boots the process's application from the environment, pins periodiq's clock
to UTC (the cadence settings are UTC) and declares the periodic actors.
"""

from __future__ import annotations

import pendulum

from fleet.worker.app import boot
from schedules import declare

# periodiq reads pendulum.now() in the local zone; the cadences are UTC.
pendulum.set_local_timezone(pendulum.UTC)

APP = boot()
ACTORS = declare(APP)
