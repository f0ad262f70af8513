"""The run state machine of SPEC §4: one table, one ``transition()``.

Every transition is a conditional UPDATE (``WHERE state IN (legal sources)``),
fenced by the worker's ``lease_id`` when a worker writes, and recorded as a
run event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.errors import IllegalTransition, LeaseLost, NotFound
from fleet.store import runs as store
from fleet.store.models import TERMINAL_STATES, RunEvent, RunState

Q, R, WT, WA = RunState.QUEUED, RunState.RUNNING, RunState.WAITING_TOOL, RunState.WAITING_APPROVAL
C, F, X, T = RunState.COMPLETED, RunState.FAILED, RunState.CANCELLED, RunState.TIMEOUT

TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    Q: frozenset({R, X, F}),  # queued -> failed: queued expiry
    R: frozenset({WT, WA, C, F, X, T, Q}),
    WT: frozenset({R, Q, F, X}),
    WA: frozenset({R, Q, X, T}),
    C: frozenset(),
    F: frozenset(),
    X: frozenset(),
    T: frozenset(),
}

# running -> queued is reserved for the reaper and graceful shutdown.
SYSTEM_ONLY: frozenset[tuple[RunState, RunState]] = frozenset({(R, Q)})


def is_legal(src: RunState | str, to: RunState | str, *, system: bool = False) -> bool:
    """Whether the table allows ``src -> to`` (for this kind of caller)."""
    src, to = RunState(src), RunState(to)
    return to in TRANSITIONS[src] and (system or (src, to) not in SYSTEM_ONLY)


def entry_values(to: RunState, now: datetime) -> dict[str, Any]:
    """Columns that entering ``to`` sets besides the state itself."""
    values: dict[str, Any] = {"state": to.value, "state_changed_at": now}
    if to in TERMINAL_STATES:
        values.update(completed_at=now, lease_id=None, lease_until=None)
    elif to is Q:
        # A fresh wait: its messages are counted (and backed off) from zero again.
        values.update(queued_at=now, lease_id=None, lease_until=None, waiting_reason=None,
                      last_sent_at=None, send_count=0)
    elif to in (WT, WA):
        # Waiting runs hold no lease and no worker.
        values.update(lease_id=None, lease_until=None)
    return values


def transition_event(run_id: str, src: str | None, to: RunState, now: datetime,
                     detail: str | None = None) -> RunEvent:
    """The run event recording one transition."""
    return RunEvent(run_id=run_id, at=now, kind="transition", from_state=src,
                    to_state=to.value, detail=detail)


def transition(
    session: Session,
    run_id: str,
    to: RunState | str,
    now: datetime,
    *,
    lease_id: str | None = None,
    system: bool = False,
    detail: str | None = None,
    **fields: Any,
) -> None:
    """Move one run to ``to``, or raise and change nothing.

    ``lease_id`` fences the write to the worker holding that lease;
    ``system=True`` is for the reaper and graceful shutdown (the only callers
    that may put a running run back to queued). Extra ``fields`` (outputs,
    error_code, ...) are written in the same UPDATE. Does not commit.
    """
    to = RunState(to)
    run = store.get(session, run_id, fresh=True)
    if run is None:
        raise NotFound(f"run {run_id} does not exist")
    src = RunState(run.state)
    if lease_id is not None and run.lease_id != lease_id:
        raise LeaseLost(run_id, lease_id)
    if not is_legal(src, to, system=system):
        raise IllegalTransition(run_id, src.value, to.value)
    values = {**fields, **entry_values(to, now)}
    changed = store.update_where(
        session, [run_id], from_states=[src.value], values=values, lease_id=lease_id
    )
    if not changed:
        # Someone else moved the run since we read it, or the lease is gone.
        current = store.get(session, run_id, fresh=True)
        if (current is not None and current.state != src.value
                and not is_legal(current.state, to, system=system)):
            raise IllegalTransition(run_id, current.state, to.value)
        raise LeaseLost(run_id, lease_id)
    store.add_events(session, [transition_event(run_id, src.value, to, now, detail)])
    session.expire(run)  # the row changed under the ORM: the next read reloads it


def transition_many(
    session: Session,
    ids: Sequence[str],
    from_states: Sequence[RunState],
    to: RunState,
    now: datetime,
    *,
    extra: Sequence[Any] = (),
    detail: str | None = None,
    **fields: Any,
) -> list[str]:
    """Move every run among ``ids`` still in ``from_states`` (and ``extra``) to ``to``.

    For sweeps: the conditions they decided on are repeated in the UPDATE, so
    a run that changed meanwhile is left alone. Records one event per run
    changed and returns their ids. Does not commit.
    """
    values = {**fields, **entry_values(to, now)}
    changed_all: list[str] = []
    for src in from_states:
        if not is_legal(src, to, system=True):
            raise IllegalTransition("*", src.value, to.value)
        changed = store.update_where(
            session, ids, from_states=[src.value], values=values, extra=extra
        )
        store.add_events(session, [transition_event(i, src.value, to, now, detail)
                                   for i in changed])
        changed_all.extend(changed)
    return changed_all
