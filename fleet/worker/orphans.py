"""Runs a dead worker had fetched from Redis but not started: found in its acks, sent again.

When a worker is killed, the messages its consumer had prefetched stay in
Dramatiq's per-consumer "acks" set until the broker's heartbeat timeout, then
go back to the END of the queue: behind the whole backlog. When a live
worker's heartbeat reaps the dead worker's leases, it also reads that set
(the dead runtime recorded its consumer id at registration) and sends those
runs again on the urgent queue, so they run within the recovery promise.
Reading *takes* the messages out of the set: the dead worker's leases expire
at several moments, and each reap must not send the same runs again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence

from dramatiq import Broker

from fleet.settings import Settings
from fleet.store import runs as run_store
from fleet.store import runtimes as runtime_store
from fleet.worker.process import WorkerRuntime
from fleet.worker.redis_broker import prefetched_run_ids

log = logging.getLogger(__name__)

Finder = Callable[[Sequence[str], Collection[str]], list[str]]


def finder(rt: WorkerRuntime, broker: Broker, settings: Settings) -> Finder | None:
    """A function from dead runtime ids (and run ids already sent again, to leave out) to
    their prefetched, still-queued run ids (Redis only)."""
    if not hasattr(broker, "client"):
        return None  # the in-memory broker loses nothing to a dead thread

    def find(runtime_ids: Sequence[str], sent: Collection[str] = ()) -> list[str]:
        if not runtime_ids:
            return []
        with rt.open_session() as session:
            consumers = runtime_store.consumer_ids(session, runtime_ids)
            session.commit()
        candidates: list[str] = []
        for consumer in consumers.values():
            for queue in (settings.queue_name, settings.urgent_queue_name):
                candidates += prefetched_run_ids(broker, consumer, queue,  # type: ignore[arg-type]
                                                 take=True)
        candidates = [c for c in dict.fromkeys(candidates) if c not in sent]
        if not candidates:
            return []
        with rt.open_session() as session:
            queued = run_store.still_queued(session, candidates)
            session.commit()
        if queued:
            log.warning("%d run(s) fetched but not started by dead runtime(s) %s are sent again",
                        len(queued), ", ".join(runtime_ids))
        return queued

    return find
