"""The Dramatiq actors of fleet: ``dramatiq actors`` runs a worker over them.

Importing this module is an entry point: it builds the settings and installs
the broker with fleet's middleware (``fleet.runtime.app.boot``) before any
actor is declared.
"""

from __future__ import annotations

import dramatiq

from fleet.runtime.app import boot
from fleet.runtime.broker import EXECUTE_ACTOR
from fleet.runtime.execution import execute_message

APP = boot()

# The engine enforces each graph's own timeout; Dramatiq's time limit is only a
# far backstop, and retries are the run's max_attempts, never Dramatiq's.
_TIME_LIMIT_MS = int(max(APP.settings.default_graph_timeout_s * 2, 86_400) * 1000)


@dramatiq.actor(actor_name=EXECUTE_ACTOR, queue_name=APP.settings.queue_name, max_retries=0,
                time_limit=_TIME_LIMIT_MS, broker=APP.broker)
def execute_graph(run_id: str) -> None:
    """Execute the run ``run_id`` (the message carries only the id)."""
    execute_message(APP.runtime, run_id)
