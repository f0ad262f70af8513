"""``/batches``: cancel or retry every run matching a filter.

``dry_run: true`` (the default) answers the count it would touch; ``dry_run: false``
records the operation and its audit entry, answers 202 with it, and works through the
runs in batches in the background; ``GET /batches/{id}`` reports the progress.
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from sqlmodel import Session

from fleet.runs import batch
from fleet.runs.filters import parse
from fleet.tokens.service import Principal
from fleet.web import actions
from fleet.web.auth import api_principal, ctx_of, db
from fleet.web.schemas import BatchIn, BatchOut, BatchPreviewOut, batch_out, count_out

router = APIRouter(prefix="/batches", tags=["batches"])


@router.post("", response_model=BatchOut | BatchPreviewOut, status_code=200,
             responses={202: {"model": BatchOut}},
             summary="Preview or start a batch operation")
def create(request: Request, response: Response, body: BatchIn, tasks: BackgroundTasks,
           principal: Principal = Depends(api_principal),
           session: Session = Depends(db)) -> BatchOut | BatchPreviewOut:
    """With ``dry_run``: how many runs it would touch. Without: start it (202)."""
    ctx = ctx_of(request)
    f = parse(body.filter.params(), ctx.clock())
    if body.dry_run:
        n = batch.preview(session, body.action, f, user_id=principal.scope)
        return BatchPreviewOut(action=body.action, filter=f.params(), count=count_out(n))
    caller = actions.Caller(principal)
    op = actions.start_batch(ctx, session, caller, body.action, f)
    tasks.add_task(actions.run_batch, ctx, caller, op.id)
    response.status_code = 202
    response.headers["Location"] = f"/api/v1/batches/{op.id}"
    return batch_out(op)


@router.get("", response_model=list[BatchOut], summary="Recent batch operations")
def recent(principal: Principal = Depends(api_principal), session: Session = Depends(db),
           limit: int = Query(50, ge=1, le=500)) -> list[BatchOut]:
    """Batch operations newest first (yours; an admin sees all)."""
    return [batch_out(b) for b in batch.recent(session, user_id=principal.scope, limit=limit)]


@router.get("/{batch_id}", response_model=BatchOut, summary="A batch operation's progress")
def show(batch_id: str, principal: Principal = Depends(api_principal),
         session: Session = Depends(db)) -> BatchOut:
    """State, runs examined, changed and skipped so far."""
    return batch_out(batch.get(session, batch_id, user_id=principal.scope))
