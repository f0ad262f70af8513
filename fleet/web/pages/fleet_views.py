"""The fleet's own pages: runtimes, alerts (with deliveries and a test send), system jobs
(last report, run now) and the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from fleet.alerts import queries as alert_queries
from fleet.audit import service as audit
from fleet.observe import jobs, runtimes
from fleet.sweeps import registry
from fleet.tokens.service import Principal
from fleet.web import actions
from fleet.web.auth import ctx_of
from fleet.web.pages.common import acting, back, render, viewer

router = APIRouter()


@router.get("/runtimes")
def runtimes_page(request: Request, principal: Principal = Depends(viewer),
                  status: str | None = None) -> Response:
    """Worker processes: status, heartbeat age, runs held."""
    ctx = ctx_of(request)
    with ctx.session() as session:
        rows = runtimes.list_runtimes(session, ctx.clock(), status=status or None)
    return render(request, "runtimes.html", principal, rows=rows, status=status or "")


@router.get("/alerts")
def alerts_page(request: Request, principal: Principal = Depends(viewer),
                state: str | None = None) -> Response:
    """Firing and resolved alerts with their deliveries."""
    ctx = ctx_of(request)
    scope = None if principal.is_admin else principal.user_id
    with ctx.session() as session:
        rows = alert_queries.list_alerts(session, user_id=scope, state=state or None)
    return render(request, "alerts.html", principal, rows=rows, state=state or "")


@router.post("/alerts/test")
def alerts_test(request: Request, csrf: str = Form(""),
                tag: str = Form("ops", max_length=16)) -> Response:
    """Send a test notification."""
    principal = acting(request, csrf)
    ctx = ctx_of(request)
    with ctx.session() as session:
        result = actions.test_alert(ctx, session, actions.Caller(principal, "dashboard"), tag)
    return back("/alerts", ("sent: " if result.ok else "not sent: ") + result.detail)


@router.get("/sweeps")
def sweeps_page(request: Request, principal: Principal = Depends(viewer)) -> Response:
    """Each system job: cadence, last run, last report."""
    ctx = ctx_of(request)
    with ctx.session() as session:
        last = jobs.last_runs(session)
    rows = [(spec, getattr(ctx.settings, spec.cron_setting), last.get(spec.name))
            for spec in registry.all_sweeps().values()]
    return render(request, "sweeps.html", principal, rows=rows)


@router.post("/sweeps/{name}/run")
def sweeps_run(request: Request, name: str, csrf: str = Form("")) -> Response:
    """Run one system job now (admins)."""
    principal = acting(request, csrf)
    ctx = ctx_of(request)
    with ctx.session() as session:
        report = actions.run_sweep(ctx, session, actions.Caller(principal, "dashboard"), name)
    return back("/sweeps", report.summary())


@router.get("/audit")
def audit_page(request: Request, principal: Principal = Depends(viewer),
               before: int | None = None, action: str | None = None) -> Response:
    """Who did what to which object, newest first."""
    ctx = ctx_of(request)
    with ctx.session() as session:
        page = audit.page(session, user_id=principal.scope, limit=100, before=before,
                          action=action or None)
    return render(request, "audit.html", principal, page=page, action=action or "")
