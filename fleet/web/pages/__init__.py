"""The dashboard: server-rendered pages under ``/``, signed in with a token."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from fleet.errors import FleetError, InvalidInput, Unauthenticated
from fleet.web.errors import status_of
from fleet.web.pages import fleet_views, overview, runs, schedules, session
from fleet.web.pages.common import render


def build_router() -> APIRouter:
    """Every dashboard page (none of them in the OpenAPI document)."""
    router = APIRouter(include_in_schema=False)
    for module in (session, overview, runs, schedules, fleet_views):
        router.include_router(module.router)
    return router


def error_page(request: Request, exc: FleetError) -> Response:
    """A dashboard error: sign in when the session is missing, else an error page."""
    if isinstance(exc, Unauthenticated):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    problems = exc.problems if isinstance(exc, InvalidInput) else []
    principal = getattr(request.state, "principal", None)
    return render(request, "error.html", principal, status_code=status_of(exc),
                  error=exc, problems=problems)
