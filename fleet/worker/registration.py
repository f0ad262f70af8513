"""Middleware: a worker process registers itself as a Runtime at boot, offline at shutdown."""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from dramatiq import Broker, Middleware

from fleet.errors import StoreUnavailable
from fleet.store import runtimes as store
from fleet.store.db import with_retry
from fleet.store.models import Runtime
from fleet.worker.process import WorkerRuntime

log = logging.getLogger(__name__)


def _fleet_version() -> str:
    try:
        return version("fleet")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def register(rt: WorkerRuntime) -> Runtime:
    """Insert (or, for a second Worker of the same process, update) this process's Runtime
    row, online, and mark it alive."""
    rt.refresh_identity()
    try:
        rt.sync_clock()
    except Exception as exc:  # the heartbeat measures it again every tick
        log.warning("could not read the database clock at registration (%s)",
                    type(exc).__name__)
    info = {"consumer_id": rt.consumer_id} if rt.consumer_id else {}

    def _insert() -> Runtime:
        now = rt.clock()
        with rt.open_session() as session:
            # An insert whose commit was lost to an outage may already be there.
            if rt.registered or store.get(session, rt.runtime_id) is not None:
                row = store.update_shape(session, rt.runtime_id, queues=list(rt.queues),
                                         concurrency=rt.concurrency, now=now)
            else:
                row = store.add(session, Runtime(
                    id=rt.runtime_id, hostname=rt.hostname, pid=rt.pid, name=rt.name,
                    queues=list(rt.queues), concurrency=rt.concurrency,
                    version=_fleet_version(), status="online", registered_at=now,
                    last_seen_at=now, info=info,
                ))
            session.commit()
            return row

    row = with_retry(_insert, what="runtime registration",
                     budget_s=rt.settings.db_outage_budget_s)
    rt.registered = True
    live = rt.liveness
    if live is not None:
        try:
            live.beat(rt.runtime_id, rt.settings.liveness_key_ttl_s)
        except Exception as exc:  # Redis down: the database row is enough
            log.warning("liveness beat failed at registration (%s)", exc.__class__.__name__)
    log.info("runtime %s registered (host %s, pid %d, %d threads, queues %s)",
             rt.runtime_id, rt.hostname, rt.pid, rt.concurrency, ",".join(rt.queues))
    return row


def mark_offline(rt: WorkerRuntime) -> None:
    """Mark this process's Runtime offline and drop its liveness key."""
    if not rt.registered:
        return

    def _offline() -> None:
        with rt.open_session() as session:
            store.mark_offline(session, [rt.runtime_id], rt.clock())
            session.commit()

    try:
        with_retry(_offline, attempts=3, what="runtime offline")
    except Exception:
        log.exception("could not mark runtime %s offline; the stale-runtime sweep will",
                      rt.runtime_id)
    live = rt.liveness
    if live is not None:
        try:
            live.forget(rt.runtime_id)
        except Exception as exc:
            log.warning("could not drop liveness key (%s)", exc.__class__.__name__)
    rt.registered = False
    log.info("runtime %s offline", rt.runtime_id)


class RegistrationMiddleware(Middleware):
    """Registers the process when its worker boots; marks it offline when it stops."""

    def __init__(self, rt: WorkerRuntime) -> None:
        self.rt = rt

    def _register(self) -> None:
        try:
            register(self.rt)
        except StoreUnavailable as exc:  # the process lives on; its heartbeat registers it
            self.rt.registration_pending = True
            log.error("runtime %s could not register (%s); the heartbeat keeps trying",
                      self.rt.runtime_id, exc.message)

    def before_worker_boot(self, broker: Broker, worker: Any) -> None:
        threads = int(getattr(worker, "worker_threads", 1))
        queues = getattr(worker, "queues", None) or broker.get_declared_queues()
        # Delay (.DQ) and dead-letter (.XQ) queues are Dramatiq's plumbing.
        mine = {q for q in queues if not q.endswith((".DQ", ".XQ"))}
        if self.rt.registered:  # a second Worker in this process (fleet dev): add its shape
            self.rt.concurrency += threads
            self.rt.queues = sorted(set(self.rt.queues) | mine)
        else:
            self.rt.concurrency, self.rt.queues = threads, sorted(mine)
        self.rt.consumer_id = getattr(broker, "broker_id", None)
        self._register()

    def after_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        mark_offline(self.rt)
