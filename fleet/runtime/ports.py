"""The ports a process hands to jobs, built from settings in one place.

Used by ``fleet sweep``, the periodiq actors and ``fleet dev`` alike, so that
each entry point wires the same broker sender, liveness store and alerts.
"""

from __future__ import annotations

import logging

from dramatiq import Broker

from fleet.runtime.broker import build_broker, make_sender
from fleet.runtime.liveness import Liveness, RedisLiveness
from fleet.settings import Settings
from fleet.sweeps.base import RunSender, SweepContext

log = logging.getLogger(__name__)


def _unsent(run_id: str) -> None:
    # No broker reachable from this process (in-memory broker of another
    # process): the run stays queued and the dev process's re-send tick sends it.
    log.info("run %s left queued for the re-send sweep (no shared broker)", run_id)


def run_sender(settings: Settings, broker: Broker | None = None) -> RunSender:
    """A sender on ``broker``, on Redis when configured, else one that leaves runs queued."""
    if broker is None and settings.redis_url:
        broker = build_broker(settings)
    if broker is None:
        return _unsent
    return make_sender(broker, settings.queue_name)


def liveness(settings: Settings) -> Liveness | None:
    """Redis liveness keys when Redis is configured; None means trust the database."""
    return RedisLiveness(settings.redis_url) if settings.redis_url else None


def sweep_context(settings: Settings, *, broker: Broker | None = None,
                  live: Liveness | None = None) -> SweepContext:
    """Everything a system job needs, from ``settings`` (and an existing broker, if any)."""
    from fleet.alerts.service import AlertService

    return SweepContext(
        settings=settings,
        send_run=run_sender(settings, broker),
        liveness=live if live is not None else liveness(settings),
        alerts=AlertService.from_settings(settings),
    )
