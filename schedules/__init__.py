"""The periodic actors of fleet: one per system job (SPEC §8), declared on an application.

Importing this package has no side effect. :func:`declare` puts one periodic
actor per job of :mod:`fleet.sweeps.registry` on the application's broker,
each with the cron spec from the setting its JobSpec names, normalized for
periodiq's day-of-week bug by :func:`fleet.worker.periodiq_cron.normalize`.
The actor body runs the job through :func:`fleet.worker.jobs.run_sweep`. The
``periodiq`` (and ``dramatiq``) command lines run ``schedules.main``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dramatiq

from fleet.ports import JobContext, JobSpec
from fleet.sweeps import registry
from fleet.sweeps.registry import check_cadences
from fleet.worker.app import FleetApp
from fleet.worker.jobs import run_sweep
from fleet.worker.periodic import PeriodicActor
from fleet.worker.periodiq_cron import normalize
from fleet.worker.wiring import job_context


def actor_name(spec: JobSpec) -> str:
    """The Dramatiq actor name of a job."""
    return f"sweep_{spec.name.replace('-', '_')}"


def _context_once(app: FleetApp) -> Callable[[], JobContext]:
    """The jobs' ports, built on the first tick (not at import) and then reused."""
    built: list[JobContext] = []

    def get() -> JobContext:
        if not built:
            built.append(job_context(app.settings, broker=app.broker,
                                     live=app.runtime.liveness))
        return built[0]

    return get


def declare_one(spec: JobSpec, app: FleetApp, context: Callable[[], JobContext]) -> Any:
    """Declare the periodic actor of one job on ``app``'s broker."""
    cron_spec = normalize(getattr(app.settings, spec.cron_setting))

    def job() -> None:
        run_sweep(spec.name, context(), app.runtime.engine)

    job.__name__ = actor_name(spec)
    job.__doc__ = f"Periodic system job '{spec.name}': {spec.description}."
    return dramatiq.actor(actor_name=actor_name(spec),
                          queue_name=app.settings.system_queue_name, max_retries=0,
                          periodic=cron_spec, broker=app.broker, actor_class=PeriodicActor)(job)


def declare(app: FleetApp) -> dict[str, Any]:
    """Declare one periodic actor per system job on ``app``'s broker; returns them by job."""
    check_cadences(app.settings)
    context = _context_once(app)
    return {spec.name: declare_one(spec, app, context)
            for spec in registry.all_sweeps().values()}
