"""Every action of the API and the dashboard, in one place.

Each action refuses first (read-only mode, a viewer, a non-admin for fleet-wide actions),
then calls the service as the caller (``user_id`` = their own id, or None for an admin),
then writes the audit entry and invalidates the shared snapshot. A refused call changes
nothing; another user's object is NotFound, exactly like a missing one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from fleet.alerts.channels import Delivery
from fleet.alerts.service import TAGS, AlertService
from fleet.audit import service as audit
from fleet.errors import InvalidInput, NotAuthorized, NotFound
from fleet.graphs import service as graphs
from fleet.ports import Report
from fleet.runs import batch, control, resume
from fleet.runs.filters import RunFilter
from fleet.runs.idempotent import Submitted, submit_once
from fleet.runs.queries import visible
from fleet.runs.submit import submit
from fleet.scheduling import service as schedules
from fleet.store.models import BatchOperation, Graph, Run, Schedule
from fleet.sweeps import registry
from fleet.tokens.service import Principal
from fleet.web.auth import require_actor, require_admin
from fleet.web.context import WebContext
from fleet.worker.jobs import run_sweep as run_job
from fleet.worker.wiring import job_context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """Who acts, and through which door."""

    principal: Principal
    via: str = "api"  # api | dashboard

    @property
    def actor(self) -> audit.Actor:
        """The audit log's view of the caller."""
        return audit.Actor(self.principal.user_id, self.principal.role, self.via)

    @property
    def scope(self) -> str | None:
        """``user_id`` for services: their own id, or None for an admin."""
        return self.principal.scope


def owner_to_act_for(caller: Caller, owner: str | None) -> str:
    """Whose object a create action makes: one's own, or (admins only) ``owner``'s."""
    me = caller.principal.user_id
    if owner in (None, "", me):
        return me
    if not caller.principal.is_admin:
        raise NotAuthorized("only an admin may act for another user")
    assert owner is not None
    return owner


def owner_to_read(caller: Caller, owner: str | None) -> str:
    """Whose graph a call names: a scoped caller's own (naming another user's answers
    NotFound, like a missing graph), an admin's ``owner`` or their own."""
    me = caller.principal.user_id
    if caller.principal.is_admin:
        return owner or me
    if owner not in (None, "", me):
        raise NotFound("graph does not exist")
    return me


def _done(ctx: WebContext, session: Session, caller: Caller, action: str, *, kind: str,
          target: str | None, owner: str | None, **detail: Any) -> None:
    audit.record(session, ctx.clock(), caller.actor, action, target_kind=kind,
                 target_id=target, target_user=owner, detail=detail)
    ctx.snapshot.invalidate()


# --- runs -------------------------------------------------------------------------------


def submit_run(ctx: WebContext, session: Session, caller: Caller, *, graph_id: str,
               version: int | None, inputs: dict[str, Any], owner: str | None = None,
               key: str | None = None) -> Submitted:
    """Submit a run (once per Idempotency-Key when one is given)."""
    require_actor(ctx, caller.principal)
    user = owner_to_act_for(caller, owner)
    now = ctx.clock()
    if key is not None:
        result = submit_once(session, key=key, graph_id=graph_id, version=version,
                             inputs=inputs, user_id=user, now=now, send=ctx.send,
                             registry=ctx.registry, settings=ctx.settings)
    else:
        result = Submitted(submit(session, graph_id=graph_id, version=version, inputs=inputs,
                                  user_id=user, now=now, send=ctx.send,
                                  registry=ctx.registry, settings=ctx.settings), False)
    if not result.replayed:
        _done(ctx, session, caller, "run.submit", kind="run", target=result.run.id,
              owner=user, graph_id=graph_id, version=result.run.graph_version,
              **({"idempotency_key": key} if key else {}))
    return result


def cancel_run(ctx: WebContext, session: Session, caller: Caller, run_id: str) -> Run:
    """Cancel a run (at once, or at its next node when running)."""
    require_actor(ctx, caller.principal)
    run = control.cancel(session, run_id, now=ctx.clock(), user_id=caller.scope)
    _done(ctx, session, caller, "run.cancel", kind="run", target=run_id, owner=run.user_id,
          state=run.state)
    return run


def approve_run(ctx: WebContext, session: Session, caller: Caller, run_id: str) -> Run:
    """Approve a run waiting for approval."""
    require_actor(ctx, caller.principal)
    run = control.approve(session, run_id, now=ctx.clock(), send=ctx.send,
                          user_id=caller.scope)
    _done(ctx, session, caller, "run.approve", kind="run", target=run_id, owner=run.user_id)
    return run


def reject_run(ctx: WebContext, session: Session, caller: Caller, run_id: str,
               reason: str | None = None) -> Run:
    """Reject a run waiting for approval (it is cancelled)."""
    require_actor(ctx, caller.principal)
    resume.reject(session, run_id, now=ctx.clock(), user_id=caller.scope, reason=reason)
    run = visible(session, run_id, caller.scope)
    session.commit()
    _done(ctx, session, caller, "run.reject", kind="run", target=run_id, owner=run.user_id,
          **({"reason": reason} if reason else {}))
    return run


def complete_tool(ctx: WebContext, session: Session, caller: Caller, run_id: str, *,
                  node_id: str, output: Any) -> Run:
    """Deliver a tool result to a run waiting for it."""
    require_actor(ctx, caller.principal)
    run = control.complete_tool(session, run_id, node_id=node_id, output=output,
                                now=ctx.clock(), send=ctx.send, user_id=caller.scope)
    _done(ctx, session, caller, "run.complete_tool", kind="run", target=run_id,
          owner=run.user_id, node_id=node_id)
    return run


def retry_run(ctx: WebContext, session: Session, caller: Caller, run_id: str,
              inputs: dict[str, Any] | None = None) -> Run:
    """Run a finished run again as a new run (optionally with edited inputs)."""
    require_actor(ctx, caller.principal)
    run = control.retry(session, run_id, now=ctx.clock(), send=ctx.send,
                        registry=ctx.registry, settings=ctx.settings, user_id=caller.scope,
                        inputs=inputs)
    _done(ctx, session, caller, "run.retry", kind="run", target=run.id, owner=run.user_id,
          retry_of=run_id, edited=sorted(inputs or {}))
    return run


# --- batch operations ----------------------------------------------------------------------


def start_batch(ctx: WebContext, session: Session, caller: Caller, action: str,
                f: RunFilter) -> BatchOperation:
    """Record a batch operation (and its audit entry); :func:`run_batch` does the work."""
    require_actor(ctx, caller.principal)
    if caller.scope is not None and f.user not in (None, caller.scope):
        raise NotAuthorized("a batch operation may only touch your own runs; only an admin "
                            "may name another user")
    return batch.start(session, action, f, user_id=caller.scope, actor=caller.actor,
                       now=ctx.clock())


def run_batch(ctx: WebContext, caller: Caller, batch_id: str) -> None:
    """Work a started batch operation to its end (in the background, own session)."""
    with ctx.session() as session:
        try:
            batch.execute(session, batch_id, clock=ctx.clock, send=ctx.send,
                          registry=ctx.registry, settings=ctx.settings, actor=caller.actor)
        except Exception:
            log.exception("batch operation %s failed", batch_id)
    ctx.snapshot.invalidate()


# --- graphs ---------------------------------------------------------------------------------


def add_graph(ctx: WebContext, session: Session, caller: Caller,
              definition: dict[str, Any], owner: str | None = None) -> tuple[Graph, bool]:
    """Validate and store a graph version; ``(graph, created)``."""
    require_actor(ctx, caller.principal)
    user = owner_to_act_for(caller, owner)
    before = graphs.latest_version(session, user, str(definition.get("id") or ""))
    session.commit()
    graph = graphs.add_graph(session, definition, user, ctx.clock(), ctx.registry,
                             settings=ctx.settings)
    created = graph.version != before
    if created:
        _done(ctx, session, caller, "graph.add", kind="graph", target=graph.id, owner=user,
              version=graph.version)
    return graph, created


def archive_graph(ctx: WebContext, session: Session, caller: Caller, graph_id: str,
                  owner: str | None = None) -> int:
    """Archive every version of a graph (its schedules go)."""
    require_actor(ctx, caller.principal)
    user = owner_to_read(caller, owner)
    n = graphs.archive_graph(session, user, graph_id, ctx.clock())
    _done(ctx, session, caller, "graph.archive", kind="graph", target=graph_id, owner=user,
          versions=n)
    return n


def delete_graph(ctx: WebContext, session: Session, caller: Caller, graph_id: str,
                 owner: str | None = None) -> int:
    """Delete every version of a graph (its schedules go; runs keep their rows)."""
    require_actor(ctx, caller.principal)
    user = owner_to_read(caller, owner)
    n = graphs.delete_graph(session, user, graph_id, ctx.clock())
    _done(ctx, session, caller, "graph.delete", kind="graph", target=graph_id, owner=user,
          versions=n)
    return n


# --- schedules ------------------------------------------------------------------------------


def add_schedule(ctx: WebContext, session: Session, caller: Caller, *, owner: str | None,
                 **fields: Any) -> Schedule:
    """Validate and store a schedule."""
    require_actor(ctx, caller.principal)
    user = owner_to_act_for(caller, owner)
    schedule = schedules.add(session, ctx.clock(), settings=ctx.settings,
                             registry=ctx.registry, user_id=user, **fields)
    _done(ctx, session, caller, "schedule.add", kind="schedule", target=schedule.id,
          owner=user, cron=schedule.cron, timezone=schedule.timezone)
    return schedule


def pause_schedule(ctx: WebContext, session: Session, caller: Caller, schedule_id: str,
                   reason: str | None = None) -> Schedule:
    """Pause a schedule."""
    require_actor(ctx, caller.principal)
    schedule = schedules.pause(session, schedule_id, caller.scope, ctx.clock(),
                               reason=reason or f"paused by {caller.principal.user_id}")
    _done(ctx, session, caller, "schedule.pause", kind="schedule", target=schedule_id,
          owner=schedule.user_id)
    return schedule


def resume_schedule(ctx: WebContext, session: Session, caller: Caller,
                    schedule_id: str) -> Schedule:
    """Resume a schedule from the next instant after now."""
    require_actor(ctx, caller.principal)
    schedule = schedules.resume(session, schedule_id, caller.scope, ctx.clock(),
                                settings=ctx.settings, registry=ctx.registry)
    _done(ctx, session, caller, "schedule.resume", kind="schedule", target=schedule_id,
          owner=schedule.user_id)
    return schedule


def delete_schedule(ctx: WebContext, session: Session, caller: Caller,
                    schedule_id: str) -> None:
    """Delete a schedule."""
    require_actor(ctx, caller.principal)
    owner = schedules.get_owned(session, schedule_id, caller.scope).user_id
    session.commit()
    schedules.delete(session, schedule_id, caller.scope, ctx.clock())
    _done(ctx, session, caller, "schedule.delete", kind="schedule", target=schedule_id,
          owner=owner)


def run_schedule_now(ctx: WebContext, session: Session, caller: Caller,
                     schedule_id: str) -> str:
    """Create a run from a schedule at once; its id."""
    require_actor(ctx, caller.principal)
    owner = schedules.get_owned(session, schedule_id, caller.scope).user_id
    session.commit()
    run_id = schedules.run_now(session, schedule_id, caller.scope, ctx.clock(),
                               settings=ctx.settings, registry=ctx.registry, send=ctx.send)
    _done(ctx, session, caller, "schedule.run_now", kind="schedule", target=schedule_id,
          owner=owner, run_id=run_id)
    return run_id


# --- fleet-wide (admins) -------------------------------------------------------------------


def run_sweep(ctx: WebContext, session: Session, caller: Caller, name: str) -> Report:
    """Run one system job now (admins)."""
    require_admin(ctx, caller.principal)
    registry.get(name)
    report = run_job(name, job_context(ctx.settings), ctx.engine, clock=ctx.clock)
    _done(ctx, session, caller, "sweep.run", kind="sweep", target=name, owner=None,
          summary=report.summary())
    return report


def test_alert(ctx: WebContext, session: Session, caller: Caller, tag: str) -> Delivery:
    """Send a test notification: admins to any tag, operators to their own (``user``)."""
    require_actor(ctx, caller.principal)
    if tag not in TAGS:
        raise InvalidInput("unknown alert tag", [f"tag: use one of {', '.join(TAGS)}"])
    if tag != "user" and not caller.principal.is_admin:
        raise NotAuthorized("only an admin may test the fleet's alert destinations; test "
                            "your own with tag 'user'")
    result = AlertService.from_settings(ctx.settings).test(
        tag, session=session, user_id=caller.principal.user_id if tag == "user" else None)
    session.commit()
    _done(ctx, session, caller, "alert.test", kind="alert", target=tag,
          owner=caller.principal.user_id if tag == "user" else None, ok=result.ok)
    return result
