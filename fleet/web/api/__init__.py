"""The REST API under ``/api/v1``: one router per noun, bearer auth on every route."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from fleet.web.api import (
    alerts,
    audit,
    batches,
    graphs,
    me,
    overview,
    runs,
    runtimes,
    schedules,
    search,
    sweeps,
)
from fleet.web.api.strict import reject_unknown_query
from fleet.web.auth import api_principal
from fleet.web.errors import ERROR_RESPONSES


def build_router() -> APIRouter:
    """Every API route, each behind a bearer token."""
    router = APIRouter(prefix="/api/v1",
                       dependencies=[Depends(api_principal), Depends(reject_unknown_query)],
                       responses=ERROR_RESPONSES)
    for module in (me, overview, graphs, runs, batches, schedules, runtimes, sweeps, alerts,
                   audit, search):
        router.include_router(module.router)
    return router
