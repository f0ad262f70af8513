"""Schedules: the list (next fires in each schedule's zone and UTC), one schedule's recent
fires, misses and skips, and the pause, resume, run-now and delete actions."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from fleet.errors import InvalidInput
from fleet.scheduling import queries
from fleet.tokens.service import Principal
from fleet.web import actions
from fleet.web.auth import ctx_of
from fleet.web.pages.common import acting, back, render, viewer

router = APIRouter()


@router.get("/schedules")
def schedules_page(request: Request, principal: Principal = Depends(viewer),
                   cursor: str | None = None, graph: str | None = None) -> Response:
    """Schedules, oldest first, with their next fires."""
    ctx = ctx_of(request)
    with ctx.session() as session:
        page = queries.list_page(session, ctx.clock(), user_id=principal.scope,
                                 graph_id=graph or None, limit=100, cursor=cursor)
    return render(request, "schedules.html", principal, page=page, graph=graph or "")


@router.get("/schedules/{schedule_id}")
def schedule_page(request: Request, schedule_id: str,
                  principal: Principal = Depends(viewer)) -> Response:
    """One schedule: next fires, recent fires, misses and skips, latest runs."""
    ctx = ctx_of(request)
    with ctx.session() as session:
        d = queries.detail(session, schedule_id, user_id=principal.scope, now=ctx.clock())
    return render(request, "schedule.html", principal, d=d, s=d.view.schedule)


@router.post("/schedules/{schedule_id}/{action}")
def schedule_action(request: Request, schedule_id: str, action: str, csrf: str = Form(""),
                    next: str = Form("", max_length=2000)) -> Response:
    """pause, resume, run-now or delete."""
    principal = acting(request, csrf)
    ctx = ctx_of(request)
    caller = actions.Caller(principal, via="dashboard")
    url = next if next.startswith("/") and not next.startswith("//") else \
        f"/schedules/{schedule_id}"
    with ctx.session() as session:
        if action == "pause":
            actions.pause_schedule(ctx, session, caller, schedule_id)
            return back(url, "schedule paused")
        if action == "resume":
            actions.resume_schedule(ctx, session, caller, schedule_id)
            return back(url, "schedule resumed")
        if action == "run-now":
            run_id = actions.run_schedule_now(ctx, session, caller, schedule_id)
            return back(f"/runs/{run_id}", "run started from the schedule")
        if action == "delete":
            actions.delete_schedule(ctx, session, caller, schedule_id)
            return back("/schedules", "schedule deleted")
    raise InvalidInput("unknown action", [f"action: '{action}' is not a schedule action"])
