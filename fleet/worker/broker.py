"""The Dramatiq broker, built from settings in one place.

Redis when ``FLEET_REDIS_URL`` is set, Dramatiq's in-memory ``StubBroker``
otherwise (dev mode and fast tests). Nothing here touches Dramatiq's global
broker: :mod:`fleet.worker.app` installs it for the CLI entry points.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from dramatiq import Broker, Message, Middleware
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from periodiq import PeriodiqMiddleware

from fleet.ports import RunSender
from fleet.settings import Settings

log = logging.getLogger(__name__)

EXECUTE_ACTOR = "execute_graph"
"""Name of the actor that executes one run; its message carries only the run id."""


def build_broker(settings: Settings, middleware: Iterable[Middleware] = (), *,
                 stub: bool | None = None) -> Broker:
    """A new broker for ``settings`` with fleet's middleware added.

    ``stub=True`` forces the in-memory broker (tests), ``False`` forces Redis.
    """
    use_stub = not settings.redis_url if stub is None else stub
    broker: Broker
    if use_stub:
        broker = StubBroker()
        broker.emit_after("process_boot")
    else:
        broker = RedisBroker(url=settings.redis_url)
    broker.add_middleware(PeriodiqMiddleware(skip_delay=30))
    if settings.dramatiq_prometheus and not use_stub:
        # lazy: opt-in (FLEET_DRAMATIQ_PROMETHEUS); importing it creates its metrics directory.
        # Through the `dramatiq` CLI it serves all worker processes' metrics on port 9191.
        from dramatiq.middleware.prometheus import Prometheus

        broker.add_middleware(Prometheus())
    for mw in middleware:
        broker.add_middleware(mw)
    return broker


def make_sender(broker: Broker, queue_name: str) -> RunSender:
    """A sender that enqueues ``execute_graph(run_id)`` without importing the actors."""
    broker.declare_queue(queue_name)  # the in-memory broker refuses unknown queues

    def send(run_id: str) -> None:
        broker.enqueue(Message(queue_name=queue_name, actor_name=EXECUTE_ACTOR,
                               args=(run_id,), kwargs={}, options={}))

    return send
