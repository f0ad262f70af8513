"""The overview page: the fleet at a glance, from the shared snapshot."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from fleet.sweeps import registry
from fleet.tokens.service import Principal
from fleet.web.auth import ctx_of
from fleet.web.pages.common import render, viewer
from fleet.web.schemas import overview_out

router = APIRouter()


@router.get("/")
def overview(request: Request, principal: Principal = Depends(viewer)) -> Response:
    """Runs per minute, failure rate, p95 run time, queue depth and lag, late runs,
    workers, system jobs (the scheduler's last dispatch among them) and firing alerts."""
    ctx = ctx_of(request)
    observed = ctx.snapshot.get()
    o = observed.overview
    jobs = {j.name: j for j in o.jobs}
    return render(request, "overview.html", principal, o=o,
                  firing=overview_out(o, principal).firing,
                  jobs=[(spec, jobs.get(spec.name)) for spec in registry.all_sweeps().values()],
                  dispatch=jobs.get("dispatch"), queue=observed.queue_name)
