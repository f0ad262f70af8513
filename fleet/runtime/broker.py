"""The Dramatiq broker, built from settings in one place.

Redis when ``FLEET_REDIS_URL`` is set, Dramatiq's in-memory ``StubBroker``
otherwise. ``actors`` and ``schedules`` call :func:`install` before declaring
any actor, so no implicit global broker is ever created.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import dramatiq
from dramatiq import Broker, Message, Middleware
from dramatiq.brokers.stub import StubBroker

from fleet.settings import Settings
from fleet.sweeps.base import RunSender

log = logging.getLogger(__name__)

EXECUTE_ACTOR = "execute_graph"
"""Name of the actor that executes one run; its message carries only the run id."""


def build_broker(settings: Settings, middleware: Iterable[Middleware] = ()) -> Broker:
    """A new broker for ``settings`` with fleet's middleware added."""
    from periodiq import PeriodiqMiddleware

    broker: Broker
    if settings.redis_url:
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=settings.redis_url)
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    broker.add_middleware(PeriodiqMiddleware(skip_delay=30))
    for mw in middleware:
        broker.add_middleware(mw)
    return broker


def install(settings: Settings, middleware: Iterable[Middleware] = ()) -> Broker:
    """Build the broker and make it Dramatiq's global one (for actor declarations)."""
    broker = build_broker(settings, middleware)
    dramatiq.set_broker(broker)
    return broker


def make_sender(broker: Broker, queue_name: str) -> RunSender:
    """A sender that enqueues ``execute_graph(run_id)`` without importing the actors."""
    broker.declare_queue(queue_name)  # the in-memory broker refuses unknown queues

    def send(run_id: str) -> None:
        broker.enqueue(Message(queue_name=queue_name, actor_name=EXECUTE_ACTOR,
                               args=(run_id,), kwargs={}, options={}))

    return send
