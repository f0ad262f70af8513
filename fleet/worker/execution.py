"""Executing one run for one ``execute_graph(run_id)`` message.

Claim the run (a message for a run that is not claimable is acknowledged,
dropped and logged: at-least-once delivery never runs one attempt twice),
register the lease with the process's heartbeat, run the engine, unregister.
An execution stopped by a graceful shutdown releases its run back to queued
without spending the attempt.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from fleet.errors import StoreUnavailable
from fleet.runs import leases
from fleet.store.db import with_retry
from fleet.worker.process import Executor, WorkerRuntime
from fleet.worker.shutdown import release_and_resend

log = logging.getLogger(__name__)
# One human line per run at its end (INFO), and one at its start with the setting
# ``log_run_starts`` (``fleet dev`` turns it on). Off by default: at hundreds of runs a
# second the start line costs a worker a few percent of its CPU, and the log twice the
# volume, for what the end line already says.
activity = logging.getLogger("fleet.activity")



class Result(StrEnum):
    """What handling one message did."""

    EXECUTED = "executed"
    DROPPED = "dropped"  # not claimable: duplicate, running elsewhere, terminal, unknown
    MALFORMED = "malformed"
    RELEASED = "released"  # stopped by a graceful shutdown, back to queued
    REDELIVERED = "redelivered"  # the database stayed out of reach: the message comes back
    ERROR = "error"


def describe(outcome: Any) -> str:
    """One human line for an execution's outcome (not the dataclass repr)."""
    state = getattr(outcome, "state", None)
    if state is None:
        return f"stopped ({getattr(outcome, 'reason', None) or 'nothing written'})"
    done = (f"{getattr(outcome, 'executed', 0)} node(s) run, "
            f"{getattr(outcome, 'replayed', 0)} replayed, "
            f"{getattr(outcome, 'elapsed_s', 0.0):.2f}s")
    error = getattr(outcome, "error", None)
    return f"{state} ({done})" + (f": {error}" if error else "")


def execute_message(rt: WorkerRuntime, run_id: Any, *,
                    execute: Executor | None = None) -> Result:
    """Handle one ``execute_graph`` message for ``run_id``."""
    if not isinstance(run_id, str) or not run_id or len(run_id) > 64:
        log.warning("dropping malformed execute_graph message: run id %r is not a run id",
                    run_id)
        return Result.MALFORMED
    if rt.shutting_down.is_set():
        log.info("run %s not claimed: this worker is shutting down", run_id)
        rt.send_runs([run_id])
        return Result.DROPPED

    def _claim() -> leases.Lease | None:
        with rt.open_session() as session:
            return leases.claim(session, run_id, rt.lease_now(), rt.runtime_id,
                                ttl_s=rt.settings.lease_ttl_s)

    try:
        # A database outage costs time, not the message: retry within the outage budget.
        lease = with_retry(_claim, what=f"claim of run {run_id}",
                           budget_s=rt.settings.db_outage_budget_s)
    except StoreUnavailable:
        rt.redeliver(run_id)
        return Result.REDELIVERED
    if lease is None:
        log.info("run %s is not claimable (duplicate delivery, running elsewhere, finished "
                 "or unknown); message acknowledged and dropped", run_id)
        return Result.DROPPED
    run = execute or rt.executor
    if lease.claimed is not None:
        graph = f"graph {lease.claimed.graph_id} version {lease.claimed.graph_version}, "
    else:
        graph = ""
    if rt.settings.log_run_starts:
        activity.info("run %s started: %sattempt %d", lease.run_id, graph, lease.attempt)
    stop = rt.make_stop()
    rt.hold(lease, stop)
    if rt.shutting_down.is_set():
        stop.request("shutdown")
    result = Result.EXECUTED
    ran_s = 0.0
    try:
        outcome = run(rt.open_session, lease, registry=rt.block_registry(),
                      settings=rt.settings, clock=rt.clock, stop=stop)
        ran_s = float(getattr(outcome, "elapsed_s", 0.0) or 0.0)
        activity.info("run %s (%sattempt %d): %s", lease.run_id, graph, lease.attempt,
                      describe(outcome))
    except Exception:
        # The lease is left to expire: the reaper retries the run within its
        # attempts, so an engine bug cannot loop forever.
        log.exception("run %s attempt %d: the executor raised", lease.run_id, lease.attempt)
        result = Result.ERROR
    finally:
        rt.unhold(lease.lease_id)
    if stop.reason() == "shutdown":
        release_and_resend(rt, {lease.run_id: lease.lease_id}, ran_s={lease.run_id: ran_s})
        return Result.RELEASED
    return result
