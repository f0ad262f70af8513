"""Worker leases on runs (SPEC §5): claim, batched heartbeat, fenced writes, release.

Each function here is one unit of work and commits. A claim is atomic:
PostgreSQL locks the candidate with ``FOR UPDATE SKIP LOCKED``, SQLite takes
the write lock up front with ``BEGIN IMMEDIATE``, and the UPDATE repeats
``state = 'queued'`` so two claimers can never both win.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from fleet.runs import fsm
from fleet.store import hotpath
from fleet.store import runs as store
from fleet.store.db import begin_write, refuse_open_transaction
from fleet.store.hotpath import ClaimedRow
from fleet.store.models import Run, RunState
from fleet.store.types import new_id


@dataclass(frozen=True)
class Lease:
    """A worker's hold on one running run (with what the claim read of it)."""

    run_id: str
    lease_id: str
    until: datetime
    attempt: int
    claimed: ClaimedRow | None = field(default=None, compare=False, repr=False)


@dataclass
class HeartbeatResult:
    """What one batched heartbeat found."""

    held: list[str] = field(default_factory=list)  # run ids whose lease was extended
    lost: list[str] = field(default_factory=list)  # lease ids no longer held
    cancel_requested: list[str] = field(default_factory=list)  # run ids to stop


def claim(session: Session, run_id: str, now: datetime, runtime_id: str,
          ttl_s: float = 60.0) -> Lease | None:
    """Claim the queued run ``run_id``; None when it is not claimable. Commits.

    Not claimable means running elsewhere, waiting, terminal or unknown: the
    caller acknowledges the message and drops it. The claim is its own transaction
    (the session must not be in one): on PostgreSQL the claim, its event and the
    read of the run's graph are one statement, sent in autocommit (one round trip),
    and a duplicate delivery costs one UPDATE that matches nothing (no lock wait).
    On SQLite a read of the run's state first drops a duplicate without queueing
    for the write lock, and the write lock is held for the claim's two statements
    only (see :func:`fleet.store.hotpath.claim`).
    """
    refuse_open_transaction(session, "claim")
    row = hotpath.claim(session, run_id, lease_id=new_id(), runtime_id=runtime_id,
                        ttl_s=ttl_s, now=now)
    if row is None:
        return None
    return Lease(row.id, row.lease_id, row.lease_until, row.attempt_count, row)


def claim_next(session: Session, now: datetime, runtime_id: str,
               ttl_s: float = 60.0) -> Lease | None:
    """Claim the oldest queued run, skipping rows other claimers hold."""
    begin_write(session, "claim_next")
    run = store.claim_one(session, None, {
        "state": RunState.RUNNING.value, "lease_id": new_id(),
        "lease_until": now + timedelta(seconds=ttl_s), "heartbeat_at": now,
        "runtime_id": runtime_id, "started_at": now, "state_changed_at": now,
        "waiting_reason": None})
    if run is None:
        session.rollback()
        return None
    assert run.lease_id is not None and run.lease_until is not None
    lease = Lease(run.id, run.lease_id, run.lease_until, run.attempt_count)
    store.add_events(session, [fsm.transition_event(
        run.id, RunState.QUEUED.value, RunState.RUNNING, now,
        detail=f"claimed by runtime {run.runtime_id}, attempt {run.attempt_count}")])
    session.commit()
    return lease


def heartbeat(session: Session, runtime_id: str, lease_ids: Sequence[str], now: datetime,
              ttl_s: float = 60.0, run_ids: Sequence[str] = ()) -> HeartbeatResult:
    """Extend every lease this process holds in one UPDATE.

    Leases missing from the answer were lost (reaped, or the run was
    cancelled and finished): their executions must stop. ``run_ids``, the
    leases' runs, make it a primary-key lookup.
    """
    rows = store.extend_leases(session, runtime_id, lease_ids, now,
                               now + timedelta(seconds=ttl_s), run_ids=run_ids)
    session.commit()
    kept = {lease for _, lease, _ in rows}
    return HeartbeatResult(
        held=[run_id for run_id, _, _ in rows],
        lost=[lease for lease in lease_ids if lease not in kept],
        cancel_requested=[run_id for run_id, _, cancel in rows if cancel],
    )


def release(session: Session, leases: Mapping[str, str], now: datetime,
            reason: str = "graceful shutdown",
            ran_s: Mapping[str, float] | None = None) -> list[str]:
    """Put the runs of ``leases`` (run id -> lease id) back to queued, attempt not spent.

    For a worker's graceful shutdown. ``ran_s`` adds each run's running time of
    this segment to the timeout's clock. Returns the run ids released; a lease
    already lost is skipped.
    """
    released: list[str] = []
    for run_id, lease_id in leases.items():
        values = {**fsm.entry_values(RunState.QUEUED, now),
                  "attempt_count": Run.attempt_count - 1,
                  "run_time_s": Run.run_time_s + (ran_s or {}).get(run_id, 0.0)}
        changed = store.update_where(session, [run_id], from_states=[RunState.RUNNING.value],
                                     values=values, lease_id=lease_id)
        if changed:
            store.add_events(session, [fsm.transition_event(
                run_id, RunState.RUNNING.value, RunState.QUEUED, now, detail=reason)])
            released.extend(changed)
    session.commit()
    return released


def write(session: Session, lease: Lease, to: RunState | str, now: datetime,
          detail: str | None = None, **fields: Any) -> None:
    """A worker's fenced transition of its own run; raises LeaseLost if not held."""
    fsm.transition(session, lease.run_id, to, now, lease_id=lease.lease_id, detail=detail,
                   **fields)
    session.commit()
