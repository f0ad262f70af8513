"""The periodiq scheduler's entry point: one periodic actor per system job (SPEC §8).

``periodiq schedules`` imports this module: it boots the process's fleet
application (settings and broker, shared with ``actors`` when both are
imported), pins periodiq's clock to UTC (the cadence settings are UTC), and
declares one actor per job of :mod:`fleet.sweeps.registry`, each with the cron
spec from the setting its SweepSpec names, normalized for periodiq's
day-of-week bug by :func:`fleet.scheduling.periodiq_cron.normalize`. The
actor body runs the job through :func:`fleet.runtime.jobs.run_sweep`.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
import pendulum

from fleet.runtime.app import FleetApp, boot
from fleet.runtime.jobs import run_sweep
from fleet.scheduling.periodiq_cron import normalize
from fleet.sweeps import registry
from fleet.sweeps.base import SweepContext, SweepSpec

log = logging.getLogger(__name__)

# periodiq reads pendulum.now() in the local zone; the cadences are UTC.
pendulum.set_local_timezone(pendulum.UTC)

APP: FleetApp = boot()
_ctx: SweepContext | None = None


def context() -> SweepContext:
    """The jobs' ports, built on the first tick (not at import)."""
    global _ctx
    if _ctx is None:
        from fleet.runtime.ports import sweep_context

        _ctx = sweep_context(APP.settings, broker=APP.broker)
    return _ctx


def actor_name(spec: SweepSpec) -> str:
    """The Dramatiq actor name of a job."""
    return f"sweep_{spec.name.replace('-', '_')}"


def declare(spec: SweepSpec, app: FleetApp) -> Any:
    """Declare the periodic actor of one job on ``app``'s broker."""
    cron_spec = normalize(getattr(app.settings, spec.cron_setting))

    def job() -> None:
        run_sweep(spec.name, app.settings, context())

    job.__name__ = actor_name(spec)
    job.__doc__ = f"Periodic system job '{spec.name}': {spec.description}."
    decorate = dramatiq.actor(actor_name=actor_name(spec), queue_name=app.settings.queue_name,
                              max_retries=0, periodic=cron_spec, broker=app.broker)
    return decorate(job)


ACTORS: dict[str, Any] = {spec.name: declare(spec, APP)
                          for spec in registry.all_sweeps().values()}
