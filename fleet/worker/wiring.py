"""The ports a process hands to services and jobs, built from settings in one place.

Used by ``fleet sweep``, the periodiq actors, the CLI and ``fleet dev`` alike,
so that each entry point wires the same broker sender, liveness store and alerts.
"""

from __future__ import annotations

import logging

from dramatiq import Broker

from fleet.alerts.service import AlertService
from fleet.ports import JobContext, Liveness, RunSender
from fleet.settings import Settings
from fleet.worker.broker import build_broker, make_batch_sender, make_sender
from fleet.worker.liveness import RedisLiveness

log = logging.getLogger(__name__)


def _unsent(run_id: str) -> None:
    # No broker reachable from this process (the in-memory broker lives in the
    # `fleet dev` process): the run stays queued and dev's pickup sends it.
    log.info("run %s left queued for `fleet dev` to pick up (no shared broker)", run_id)


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


def job_context(settings: Settings, *, broker: Broker | None = None,
                live: Liveness | None = None) -> JobContext:
    """Everything a system job needs, from ``settings`` (and an existing broker, if any)."""
    if broker is None and settings.redis_url:
        broker = build_broker(settings)
    return JobContext(
        settings=settings,
        send_run=run_sender(settings, broker),
        send_many=make_batch_sender(broker, settings.queue_name) if broker else None,
        liveness=live if live is not None else liveness(settings),
        alerts=AlertService.from_settings(settings),
    )
