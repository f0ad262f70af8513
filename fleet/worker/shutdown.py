"""Middleware: graceful shutdown puts in-flight runs back to queued, attempt not spent.

When the worker is asked to stop (SIGTERM to a ``dramatiq`` process, or the
end of ``fleet dev``), every execution is told to stop with ``shutdown`` at
its next node boundary; each returns and releases its own lease. Leases still
held after ``shutdown_grace_s`` are released here. Released runs are re-sent
at once so another worker picks them up.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any

from dramatiq import Broker, Middleware

from fleet.runs import leases
from fleet.store.db import with_retry
from fleet.worker.process import WorkerRuntime

log = logging.getLogger(__name__)


def release_and_resend(rt: WorkerRuntime, held: Mapping[str, str],
                       reason: str = "graceful shutdown",
                       ran_s: Mapping[str, float] | None = None) -> list[str]:
    """Put the runs of ``held`` (run id -> lease id) back to queued and send them again."""
    if not held:
        return []

    def _release() -> list[str]:
        with rt.open_session() as session:
            return leases.release(session, held, rt.lease_now(), reason=reason, ran_s=ran_s)

    try:
        released = with_retry(_release, attempts=4, what="lease release")
    except Exception:
        log.exception("could not release %d run(s) at shutdown; the reaper will requeue them",
                      len(held))
        return []
    rt.send_runs(released, what="released run")
    if released:
        log.info("released %d run(s) back to queued: %s", len(released), ", ".join(released))
    return released


def shutdown(rt: WorkerRuntime) -> list[str]:
    """Stop every execution and release whatever is still held after the grace period."""
    rt.shutting_down.set()
    held = rt.held()
    for h in held:
        h.stop.request("shutdown")
    if held and not rt.wait_drained(rt.settings.shutdown_grace_s):
        log.warning("executions still running after %.0fs; releasing their leases",
                    rt.settings.shutdown_grace_s)
    rest = {h.lease.run_id: h.lease.lease_id for h in rt.held()}
    return release_and_resend(rt, rest)


def absorb_repeated_sigterm(window_s: float) -> bool:
    """Ignore a SIGTERM that repeats within ``window_s`` of the first one.

    Process managers (honcho, systemd's default ``KillMode``, Kubernetes) signal
    the whole process group, so a ``dramatiq`` worker process gets SIGTERM
    from them and again from its parent; Dramatiq treats the second one as
    "kill now" and would cut the graceful shutdown short. A later SIGTERM
    still forces the exit. Returns whether the handler was installed (only
    possible on the main thread, over a Python-level handler).
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return False
    first: list[float] = []

    def handler(signum: int, frame: FrameType | None) -> Any:
        now = time.monotonic()
        if first and now - first[0] < window_s:
            log.info("repeated SIGTERM ignored: graceful shutdown in progress")
            return None
        if not first:
            first.append(now)
        return previous(signum, frame)

    signal.signal(signal.SIGTERM, handler)
    return True


class GracefulShutdownMiddleware(Middleware):
    """Runs :func:`shutdown` when the worker begins to stop."""

    def __init__(self, rt: WorkerRuntime) -> None:
        self.rt = rt

    def before_worker_boot(self, broker: Broker, worker: Any) -> None:
        absorb_repeated_sigterm(max(self.rt.settings.shutdown_grace_s, 5.0))

    def before_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        shutdown(self.rt)
