"""The Dramatiq broker, built from settings in one place.

Redis when ``FLEET_REDIS_URL`` is set (:class:`fleet.worker.redis_broker.FleetRedisBroker`),
Dramatiq's in-memory ``StubBroker`` otherwise (dev mode and fast tests).
Nothing here touches Dramatiq's global broker: :mod:`fleet.worker.app`
installs it for the command-line entry points.

Three queues: runs (``queue_name``), runs taken back from a dead worker
(``urgent_queue_name``, consumed first by the same workers), and the periodic
system jobs (``system_queue_name``, consumed only by the ``system`` workers so
that busy run workers never delay a sweep).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from dramatiq import Broker, Message, Middleware
from dramatiq.brokers.stub import StubBroker

from fleet.ports import BatchSender, RunSender
from fleet.settings import Settings
from fleet.worker import wire
from fleet.worker.periodic import StaleJobMiddleware
from fleet.worker.redis_broker import MAINTENANCE_CHANCE, FleetRedisBroker

log = logging.getLogger(__name__)

EXECUTE_ACTOR = "execute_graph"
"""Name of the actor that executes one run; its message carries only the run id."""
EXECUTE_URGENT_ACTOR = "execute_graph_urgent"
"""The same on the urgent queue: a run taken back from a dead worker, ahead of the backlog."""


def build_broker(settings: Settings, middleware: Iterable[Middleware] = (), *,
                 stub: bool | None = None,
                 on_skip: Callable[[str, float], None] | None = None) -> Broker:
    """A new broker for ``settings`` with fleet's middleware added.

    ``stub=True`` forces the in-memory broker (tests), ``False`` forces Redis.
    ``on_skip(job, age_s)`` is told of each stale periodic job skipped.
    """
    use_stub = not settings.redis_url if stub is None else stub
    broker: Broker
    if use_stub:
        broker = StubBroker()
        broker.emit_after("process_boot")
    else:
        broker = FleetRedisBroker(
            url=settings.redis_url,
            heartbeat_timeout=int(settings.broker_heartbeat_timeout_s * 1000),
            maintenance_chance=MAINTENANCE_CHANCE)
    broker.add_middleware(StaleJobMiddleware(settings.periodic_skip_after_s, on_skip))
    if settings.dramatiq_prometheus and not use_stub:
        # lazy: opt-in (FLEET_DRAMATIQ_PROMETHEUS); importing it creates its metrics directory.
        # Through the `dramatiq` CLI it serves all worker processes' metrics on port 9191.
        from dramatiq.middleware.prometheus import Prometheus

        broker.add_middleware(Prometheus())
    for mw in middleware:
        broker.add_middleware(mw)
    return broker


def make_batch_sender(broker: Broker, queue_name: str,
                      actor_name: str = EXECUTE_ACTOR) -> BatchSender:
    """A sender of many ``actor_name(run_id)`` messages: one Redis round trip for all.

    On Redis with nothing hooking ``enqueue``, the messages are encoded straight to
    Dramatiq's wire format (:mod:`fleet.worker.wire`) instead of one ``Message`` each.
    """
    broker.declare_queue(queue_name)

    def send_many(run_ids: Sequence[str]) -> None:
        if isinstance(broker, FleetRedisBroker) and wire.plain_enqueue(broker):
            broker.enqueue_encoded(queue_name, wire.encode_runs(queue_name, actor_name, run_ids))
            return
        messages: list[Message[Any]] = [
            Message(queue_name=queue_name, actor_name=actor_name, args=(run_id,), kwargs={},
                    options={}) for run_id in run_ids]
        if isinstance(broker, FleetRedisBroker):
            broker.enqueue_many(messages)
        else:
            for message in messages:
                broker.enqueue(message)

    return send_many


REDELIVER_DELAY_MS = 10_000


def make_sender(broker: Broker, queue_name: str, actor_name: str = EXECUTE_ACTOR,
                delay_ms: int | None = None) -> RunSender:
    """A sender that enqueues ``actor_name(run_id)`` on ``queue_name`` (no actor import),
    due after ``delay_ms`` when given."""
    broker.declare_queue(queue_name)  # the in-memory broker refuses unknown queues

    def send(run_id: str) -> None:
        broker.enqueue(Message(queue_name=queue_name, actor_name=actor_name,
                               args=(run_id,), kwargs={}, options={}), delay=delay_ms)

    return send


def senders(broker: Broker, settings: Settings) -> tuple[RunSender, RunSender, RunSender]:
    """The run sender, the urgent run sender and the delayed re-delivery of ``settings``."""
    return (make_sender(broker, settings.queue_name),
            make_sender(broker, settings.urgent_queue_name, EXECUTE_URGENT_ACTOR),
            make_sender(broker, settings.queue_name, delay_ms=REDELIVER_DELAY_MS))
