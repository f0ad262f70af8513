"""``/schedules``: the CLI's verbs (list, add, show, delete, pause, resume, run now) and
``/schedules/preview``."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Query, Request
from sqlmodel import Session

from fleet.scheduling import queries
from fleet.scheduling import service as schedules
from fleet.tokens.service import Principal
from fleet.web import actions
from fleet.web.auth import api_principal, ctx_of, db
from fleet.web.schemas import (
    DeletedOut,
    PauseIn,
    PreviewOut,
    RunIdOut,
    RunSummary,
    ScheduleDetailOut,
    ScheduleIn,
    ScheduleOut,
    SchedulePageOut,
    fire_out,
    preview_out,
    schedule_out,
)

router = APIRouter(prefix="/schedules", tags=["schedules"])


@router.get("", response_model=SchedulePageOut, summary="List schedules")
def list_schedules(request: Request, principal: Principal = Depends(api_principal),
                   session: Session = Depends(db),
                   owner: str | None = Query(None, max_length=128,
                                             description="Admins: one user's schedules."),
                   graph: str | None = Query(None, max_length=128),
                   limit: int = Query(100, ge=1, le=500),
                   cursor: str | None = Query(None, max_length=1000)) -> SchedulePageOut:
    """Schedules with their next fires (in their zone and UTC), oldest first."""
    page = queries.list_page(session, ctx_of(request).clock(), user_id=principal.scope,
                             owner=owner, graph_id=graph, limit=limit, cursor=cursor)
    return SchedulePageOut(items=[schedule_out(v) for v in page.schedules],
                           next_cursor=page.next_cursor)


@router.get("/preview", response_model=PreviewOut, summary="Preview a cron expression")
def preview(request: Request, cron: str = Query(..., min_length=1, max_length=256),
            tz: str = Query("UTC", min_length=1, max_length=64),
            count: int = Query(5, ge=1, le=100)) -> PreviewOut:
    """The expression in words and its next fire times, in the zone and in UTC."""
    return preview_out(schedules.preview(cron, tz, ctx_of(request).clock(), count))


@router.post("", response_model=ScheduleOut, status_code=201, summary="Add a schedule")
def add(request: Request, body: ScheduleIn, principal: Principal = Depends(api_principal),
        session: Session = Depends(db)) -> ScheduleOut:
    """Validated first (cron, zone, policies, graph and inputs); every problem is listed."""
    ctx = ctx_of(request)
    schedule = actions.add_schedule(
        ctx, session, actions.Caller(principal), owner=body.owner, graph_id=body.graph_id,
        cron_expr=body.cron, timezone=body.timezone, version=body.version,
        inputs=body.inputs, name=body.name, overlap=body.overlap, catchup=body.catchup,
        catchup_window_s=body.catchup_window_s)
    return schedule_out(schedules.view(schedule, ctx.clock()))


@router.get("/{schedule_id}", response_model=ScheduleDetailOut, summary="Show a schedule")
def show(request: Request, schedule_id: str, principal: Principal = Depends(api_principal),
         session: Session = Depends(db)) -> ScheduleDetailOut:
    """The schedule, its recent fires, misses and skips, and its latest runs."""
    d = queries.detail(session, schedule_id, user_id=principal.scope,
                       now=ctx_of(request).clock())
    return ScheduleDetailOut(schedule=schedule_out(d.view), fires=[fire_out(f) for f in d.fires],
                             runs=[RunSummary.model_validate(r) for r in d.runs])


@router.delete("/{schedule_id}", response_model=DeletedOut, summary="Delete a schedule")
def delete(request: Request, schedule_id: str, principal: Principal = Depends(api_principal),
           session: Session = Depends(db)) -> DeletedOut:
    """The schedule and its fire records go; its runs stay."""
    actions.delete_schedule(ctx_of(request), session, actions.Caller(principal), schedule_id)
    return DeletedOut(id=schedule_id, deleted=True)


@router.post("/{schedule_id}/pause", response_model=ScheduleOut, summary="Pause a schedule")
def pause(request: Request, schedule_id: str, body: PauseIn = Body(default_factory=PauseIn),
          principal: Principal = Depends(api_principal),
          session: Session = Depends(db)) -> ScheduleOut:
    """It fires nothing until resumed."""
    ctx = ctx_of(request)
    s = actions.pause_schedule(ctx, session, actions.Caller(principal), schedule_id,
                               body.reason)
    return schedule_out(schedules.view(s, ctx.clock()))


@router.post("/{schedule_id}/resume", response_model=ScheduleOut,
             summary="Resume a schedule")
def resume(request: Request, schedule_id: str, principal: Principal = Depends(api_principal),
           session: Session = Depends(db)) -> ScheduleOut:
    """Checks the graph again; fires from the next instant (missed ones are not caught
    up)."""
    ctx = ctx_of(request)
    s = actions.resume_schedule(ctx, session, actions.Caller(principal), schedule_id)
    return schedule_out(schedules.view(s, ctx.clock()))


@router.post("/{schedule_id}/run-now", response_model=RunIdOut, status_code=201,
             summary="Run a schedule now")
def run_now(request: Request, schedule_id: str, principal: Principal = Depends(api_principal),
            session: Session = Depends(db)) -> RunIdOut:
    """A queued run from the schedule's graph and inputs, at once."""
    return RunIdOut(run_id=actions.run_schedule_now(ctx_of(request), session,
                                                    actions.Caller(principal), schedule_id))
