"""Batch operations: cancel or retry every run matching a filter.

First :func:`preview` answers how many runs the operation would touch (a capped count),
then :func:`start` records the operation (and an audit entry) and :func:`execute` works
through the matching runs newest first, :data:`batch_size` at a time, one committed
transaction per batch that also writes the progress: a run is either handled or
untouched, never half-handled, and the progress always says what was done.

Both operations are safe to run twice. Cancel only touches runs still cancellable (a
queued or waiting run is cancelled, a running one gets ``cancel_requested``), with the
state repeated inside the UPDATE. Retry skips runs that already have a retry; each batch
locks its runs (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and checks
again under the lock, so two concurrent retries of one filter cannot both retry a run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.audit import service as audit
from fleet.engine.blocks.registry import BlockRegistry
from fleet.errors import InvalidInput, NotFound
from fleet.ports import RunSender
from fleet.runs import checks, fsm
from fleet.runs.create import NewRun, create_many
from fleet.runs.filters import RunFilter
from fleet.runs.queries import COUNT_CAP, Count
from fleet.runs.sending import send_and_record
from fleet.settings import Settings
from fleet.store import batches as store
from fleet.store import graphs as graph_store
from fleet.store import run_lists
from fleet.store import runs as run_store
from fleet.store.db import begin_write
from fleet.store.models import TERMINAL_STATES, BatchOperation, Graph, RunEvent, RunState

log = logging.getLogger(__name__)

ACTIONS: tuple[str, ...] = ("cancel", "retry")
CANCELLABLE: tuple[str, ...] = ("queued", "running", "waiting_tool", "waiting_approval")
RETRYABLE: tuple[str, ...] = tuple(sorted(s.value for s in TERMINAL_STATES))
WAITING = (RunState.QUEUED, RunState.WAITING_TOOL, RunState.WAITING_APPROVAL)


def _check_action(action: str) -> None:
    if action not in ACTIONS:
        raise InvalidInput("unknown batch action",
                           [f"action: '{action}' is unknown; use one of {', '.join(ACTIONS)}"])


def _scoped(action: str, f: RunFilter, scope_user: str | None) -> run_lists.Where | None:
    narrowed = f.with_states(CANCELLABLE if action == "cancel" else RETRYABLE)
    return narrowed.where(scope_user) if narrowed is not None else None


def _extra(action: str) -> list[Any]:
    return [run_lists.cancellable()] if action == "cancel" else [run_lists.not_retried()]


def preview(session: Session, action: str, f: RunFilter, *, user_id: str | None,
            cap: int = COUNT_CAP) -> Count:
    """How many runs ``action`` would touch now (runs of ``user_id``; None: everyone's)."""
    _check_action(action)
    where = _scoped(action, f, user_id)
    n = 0 if where is None else run_lists.count(session, where, cap=cap, extra=_extra(action))
    session.commit()
    return Count(min(n, cap), n > cap)


def start(session: Session, action: str, f: RunFilter, *, user_id: str | None,
          actor: audit.Actor, now: datetime) -> BatchOperation:
    """Record a batch operation about to run, with its audit entry; commits."""
    expected = preview(session, action, f, user_id=user_id)
    op = BatchOperation(user_id=actor.user_id, scope_user=user_id, action=action,
                        filter=f.to_dict(), expected=expected.value, created_at=now,
                        updated_at=now)
    store.add(session, op)
    audit.add(session, now, actor, f"batch.{action}", target_kind="batch", target_id=op.id,
              target_user=user_id,
              detail={"filter": f.to_dict(), "expected": expected.text, "phase": "started"})
    session.commit()
    return op


def get(session: Session, batch_id: str, *, user_id: str | None) -> BatchOperation:
    """A batch operation started by ``user_id`` (None: anyone's), else NotFound."""
    op = store.get(session, batch_id)
    session.commit()
    if op is None or (user_id is not None and op.user_id != user_id):
        raise NotFound(f"batch operation {batch_id} does not exist")
    return op


def recent(session: Session, *, user_id: str | None, limit: int = 50) -> list[BatchOperation]:
    """Batch operations newest first (those ``user_id`` started; None: all)."""
    rows = store.recent(session, user_id=user_id, limit=limit)
    session.commit()
    return rows


@dataclass
class _Step:
    examined: int = 0
    changed: int = 0
    sent: list[str] | None = None


def _cancel_step(session: Session, ids: list[str], now: datetime, label: str) -> _Step:
    cancelled = fsm.transition_many(session, ids, WAITING, RunState.CANCELLED, now,
                                    detail=f"cancelled by {label}", cancel_requested=True)
    flagged = run_store.update_where(session, ids, from_states=["running"],
                                     values={"cancel_requested": True},
                                     extra=[run_lists.cancel_not_requested()])
    run_store.add_events(session, [RunEvent(run_id=i, at=now, kind="note",
                                            detail=f"cancel requested by {label}")
                                   for i in flagged])
    return _Step(len(ids), len(cancelled) + len(flagged))


def _retry_step(session: Session, ids: list[str], now: datetime, label: str,
                registry: BlockRegistry, settings: Settings) -> _Step:
    rows = run_lists.lock_rows(session, ids)
    done = run_lists.retried_ids(session, ids)  # retried since we listed them: skip
    graphs: dict[tuple[str, str, int], Graph | None] = {}
    new: list[NewRun] = []
    for old in rows:
        if old.id in done or old.state not in RETRYABLE:
            continue
        key = (old.user_id, old.graph_id, old.graph_version)
        if key not in graphs:
            graphs[key] = graph_store.get(session, *key)
        graph = graphs[key]
        if graph is None or graph.is_archived:
            continue  # the graph version is gone: counted as skipped
        if checks.problems(graph.definition, old.inputs or {}, registry,
                           settings.max_input_bytes):
            continue
        new.append(NewRun(user_id=old.user_id, graph=graph, inputs=dict(old.inputs or {}),
                          detail=f"retry of run {old.id} by {label}", retry_of=old.id))
    made = create_many(session, new, now)
    return _Step(len(ids), len(made), [r.id for r in made])


def execute(session: Session, batch_id: str, *, clock: Callable[[], datetime],
            send: RunSender, registry: BlockRegistry, settings: Settings,
            actor: audit.Actor) -> BatchOperation:
    """Work through a started batch operation until no matching run is left; returns it
    finished (``done``, or ``failed`` with the error, which is also re-raised)."""
    op = store.get(session, batch_id)
    session.commit()
    if op is None:
        raise NotFound(f"batch operation {batch_id} does not exist")
    f = RunFilter.from_dict(op.filter)
    where = _scoped(op.action, f, op.scope_user)
    label = f"batch {op.id} ({actor.user_id})"
    after: run_lists.Key | None = None
    try:
        while where is not None:
            begin_write(session, f"batch {op.action}")
            now = clock()
            keys = run_lists.keys(session, where, limit=settings.web_batch_size, after=after,
                                  extra=_extra(op.action))
            if not keys:
                session.rollback()
                break
            after = (keys[-1][1], keys[-1][0])
            ids = [k[0] for k in keys]
            step = (_cancel_step(session, ids, now, label) if op.action == "cancel"
                    else _retry_step(session, ids, now, label, registry, settings))
            op.processed += step.examined
            op.changed += step.changed
            op.skipped += step.examined - step.changed
            store.progress(session, op.id, {"processed": op.processed, "changed": op.changed,
                                            "skipped": op.skipped, "updated_at": now})
            session.commit()
            if step.sent:
                send_and_record(session, step.sent, now, send, what="retried run")
    except Exception as exc:
        session.rollback()
        _finish(session, op, clock(), actor, "failed", f"{type(exc).__name__}: {exc}")
        raise
    return _finish(session, op, clock(), actor, "done", None)


def _finish(session: Session, op: BatchOperation, now: datetime, actor: audit.Actor,
            state: str, error: str | None) -> BatchOperation:
    store.progress(session, op.id, {"state": state, "error": error, "finished_at": now,
                                    "updated_at": now})
    audit.add(session, now, actor, f"batch.{op.action}", target_kind="batch",
              target_id=op.id, target_user=op.scope_user,
              detail={"filter": op.filter, "phase": state, "processed": op.processed,
                      "changed": op.changed, "skipped": op.skipped,
                      **({"error": error} if error else {})})
    session.commit()
    log.info("batch %s %s %s: %d examined, %d changed, %d skipped", op.id, op.action, state,
             op.processed, op.changed, op.skipped)
    done = store.get(session, op.id)
    session.commit()
    assert done is not None
    return done
