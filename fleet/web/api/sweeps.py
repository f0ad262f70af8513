"""``/sweeps``: the system jobs with their last run, and running one now (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session

from fleet.observe import jobs
from fleet.sweeps import registry
from fleet.tokens.service import Principal
from fleet.web import actions
from fleet.web.auth import api_principal, ctx_of, db
from fleet.web.schemas import SweepOut, SweepRunOut

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


def sweeps_out(request: Request, session: Session) -> list[SweepOut]:
    """Every system job in registry order, with its last run (from ``system_jobs``)."""
    settings = ctx_of(request).settings
    rows = jobs.last_runs(session)
    found = []
    for spec in registry.all_sweeps().values():
        j = rows.get(spec.name)
        last = {} if j is None else {
            "last_started_at": j.last_started_at, "last_finished_at": j.last_finished_at,
            "last_outcome": j.last_outcome, "last_duration_s": j.last_duration_s,
            "last_success_at": j.last_success_at, "last_error": j.last_error,
            "last_report": j.last_report, "runs_total": j.runs_total,
            "errors_total": j.errors_total}
        found.append(SweepOut(name=spec.name, description=spec.description,
                              cron=getattr(settings, spec.cron_setting), **last))
    return found


@router.get("", response_model=list[SweepOut], summary="List system jobs")
def list_sweeps(request: Request, session: Session = Depends(db)) -> list[SweepOut]:
    """Each system job, its cadence (cron, UTC) and its last run and report."""
    return sweeps_out(request, session)


@router.post("/{name}/run", response_model=SweepRunOut, summary="Run a system job now")
def run(request: Request, name: str, principal: Principal = Depends(api_principal),
        session: Session = Depends(db)) -> SweepRunOut:
    """Admins: run the job once, here, and answer its report."""
    report = actions.run_sweep(ctx_of(request), session, actions.Caller(principal), name)
    return SweepRunOut(name=name, summary=report.summary(), report=report.to_dict())
