"""The Dramatiq actors of fleet, declared on an application's broker.

Importing this package has no side effect: :func:`declare` puts the actors on
the broker of the :class:`fleet.worker.app.FleetApp` it is given (tests build
one per broker). The ``dramatiq`` command line runs ``actors.main``, which
boots the process's application from the environment and declares them.
"""

from __future__ import annotations

from typing import Any

import dramatiq

from fleet.worker.app import FleetApp
from fleet.worker.broker import EXECUTE_ACTOR, EXECUTE_URGENT_ACTOR
from fleet.worker.execution import execute_message


def declare(app: FleetApp) -> dict[str, Any]:
    """Declare fleet's actors on ``app``'s broker; returns them by name."""
    # The engine enforces each graph's own timeout; Dramatiq's time limit is only a
    # far backstop, and retries are the run's max_attempts, never Dramatiq's.
    time_limit_ms = int(max(app.settings.default_graph_timeout_s * 2, 86_400) * 1000)

    def execute_graph(run_id: str) -> None:
        """Execute the run ``run_id`` (the message carries only the id)."""
        execute_message(app.runtime, run_id)

    def execute_graph_urgent(run_id: str) -> None:
        """The same, for a run taken back from a dead worker (taken before the backlog)."""
        execute_message(app.runtime, run_id)

    # Dramatiq's workers take lower priority numbers first among the messages they fetched.
    declared = {}
    for fn, name, queue, priority in (
            (execute_graph, EXECUTE_ACTOR, app.settings.queue_name, 10),
            (execute_graph_urgent, EXECUTE_URGENT_ACTOR, app.settings.urgent_queue_name, 0)):
        declared[name] = dramatiq.actor(actor_name=name, queue_name=queue, priority=priority,
                                        max_retries=0, time_limit=time_limit_ms,
                                        broker=app.broker)(fn)
    return declared
