"""``/runs``: list (the shared filter, keyset pages, capped counts), show, why, submit
(``Idempotency-Key``), cancel, approve, reject, complete a tool call, retry."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from sqlmodel import Session

from fleet.runs import diagnose, queries
from fleet.runs.filters import RunFilter, parse
from fleet.tokens.service import Principal
from fleet.web import actions
from fleet.web.auth import api_principal, ctx_of, db
from fleet.web.schemas import (
    CompleteToolIn,
    DiagnosisOut,
    RejectIn,
    RetryIn,
    RunDetailOut,
    RunOut,
    RunPageOut,
    RunSummary,
    SubmitIn,
    count_out,
    detail_out,
    diagnosis_out,
    run_out,
)

router = APIRouter(prefix="/runs", tags=["runs"])


def run_filter(request: Request,
               state: list[str] | None = Query(None, description="Repeat or comma-separate."),
               graph: str | None = Query(None, max_length=256),
               user: str | None = Query(None, max_length=256,
                                        description="Admins: one user's runs."),
               schedule: str | None = Query(None, max_length=256),
               error: str | None = Query(None, max_length=256,
                                         description="An error code, e.g. E-RUN-002."),
               since: str | None = Query(None, max_length=64,
                                         description="ISO 8601, or 15m / 24h / 7d ago."),
               until: str | None = Query(None, max_length=64)) -> RunFilter:
    """The one run filter, from query parameters."""
    params = {"state": state, "graph": graph, "user": user, "schedule": schedule,
              "error": error, "since": since, "until": until}
    return parse({k: v for k, v in params.items() if v is not None}, ctx_of(request).clock())


@router.get("", response_model=RunPageOut, summary="List runs")
def list_runs(f: RunFilter = Depends(run_filter), principal: Principal = Depends(api_principal),
              session: Session = Depends(db), limit: int = Query(50, ge=1, le=500),
              cursor: str | None = Query(None, max_length=1000),
              count: bool = Query(True, description="Also count the matches (stops at "
                                                    "10 000).")) -> RunPageOut:
    """Runs matching the filter, newest first, one keyset page at a time."""
    page = queries.list_runs(session, f, user_id=principal.scope, limit=limit, cursor=cursor)
    total = count_out(queries.count_runs(session, f, user_id=principal.scope)) if count else None
    return RunPageOut(items=[RunSummary.model_validate(r) for r in page.runs],
                      next_cursor=page.next_cursor, count=total)


@router.post("", response_model=RunOut, status_code=201, summary="Submit a run")
def submit(request: Request, response: Response, body: SubmitIn,
           idempotency_key: str | None = Header(None, max_length=255, description=(
               "Submitting again with the same key answers the first run (200).")),
           principal: Principal = Depends(api_principal),
           session: Session = Depends(db)) -> RunOut:
    """Validate the graph and inputs, record the run as queued, then send it."""
    result = actions.submit_run(ctx_of(request), session, actions.Caller(principal),
                                graph_id=body.graph_id, version=body.version,
                                inputs=body.inputs, owner=body.owner, key=idempotency_key)
    if result.replayed:
        response.status_code = 200
    return run_out(result.run)


@router.get("/{run_id}", response_model=RunDetailOut, summary="Show a run")
def show(run_id: str, principal: Principal = Depends(api_principal),
         session: Session = Depends(db)) -> RunDetailOut:
    """The run with its node runs, tracker, attempts and first events (secrets redacted)."""
    return detail_out(queries.detail(session, run_id, user_id=principal.scope))


@router.get("/{run_id}/why", response_model=DiagnosisOut,
            summary="Why is this run not moving?")
def why(request: Request, run_id: str, principal: Principal = Depends(api_principal),
        session: Session = Depends(db)) -> DiagnosisOut:
    """The causes found in the store: no worker online, backlog ahead, scheduler silent,
    lease held by an offline runtime, waiting since when, attempts exhausted."""
    ctx = ctx_of(request)
    return diagnosis_out(diagnose.why(session, run_id, now=ctx.clock(), settings=ctx.settings,
                                      user_id=principal.scope, liveness=ctx.liveness))


@router.post("/{run_id}/cancel", response_model=RunOut, summary="Cancel a run")
def cancel(request: Request, run_id: str, principal: Principal = Depends(api_principal),
           session: Session = Depends(db)) -> RunOut:
    """At once when queued or waiting; at its next node when running."""
    return run_out(actions.cancel_run(ctx_of(request), session, actions.Caller(principal),
                                      run_id))


@router.post("/{run_id}/approve", response_model=RunOut, summary="Approve a waiting run")
def approve(request: Request, run_id: str, principal: Principal = Depends(api_principal),
            session: Session = Depends(db)) -> RunOut:
    """The run resumes from its checkpoint."""
    return run_out(actions.approve_run(ctx_of(request), session, actions.Caller(principal),
                                       run_id))


@router.post("/{run_id}/reject", response_model=RunOut, summary="Reject a waiting run")
def reject(request: Request, run_id: str, body: RejectIn = Body(default_factory=RejectIn),
           principal: Principal = Depends(api_principal),
           session: Session = Depends(db)) -> RunOut:
    """The run is cancelled, with the reason recorded."""
    return run_out(actions.reject_run(ctx_of(request), session, actions.Caller(principal),
                                      run_id, body.reason))


@router.post("/{run_id}/complete-tool", response_model=RunOut,
             summary="Deliver a tool's result")
def complete_tool(request: Request, run_id: str, body: CompleteToolIn,
                  principal: Principal = Depends(api_principal),
                  session: Session = Depends(db)) -> RunOut:
    """The waiting node gets ``output`` and the run resumes."""
    return run_out(actions.complete_tool(ctx_of(request), session, actions.Caller(principal),
                                         run_id, node_id=body.node_id, output=body.output))


@router.post("/{run_id}/retry", response_model=RunOut, status_code=201,
             summary="Retry a finished run as a new run")
def retry(request: Request, run_id: str, body: RetryIn = Body(default_factory=RetryIn),
          principal: Principal = Depends(api_principal),
          session: Session = Depends(db)) -> RunOut:
    """A new run of the same graph version with the old inputs (``inputs`` replace the
    named ones); it links back with ``retry_of``."""
    return run_out(actions.retry_run(ctx_of(request), session, actions.Caller(principal),
                                     run_id, body.inputs))
