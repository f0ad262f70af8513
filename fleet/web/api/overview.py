"""``/overview``: the shared snapshot of the fleet's health."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from fleet.tokens.service import Principal
from fleet.web.auth import api_principal, ctx_of
from fleet.web.schemas import OverviewOut, overview_out

router = APIRouter(tags=["overview"])


@router.get("/overview", response_model=OverviewOut, summary="The fleet at a glance")
def overview(request: Request, principal: Principal = Depends(api_principal)) -> OverviewOut:
    """Queue depth and lag, runs per minute, failure rate, p95 run time, late runs,
    workers, system jobs and firing alerts, from a snapshot refreshed every few seconds."""
    return overview_out(ctx_of(request).snapshot.get().overview, principal)
