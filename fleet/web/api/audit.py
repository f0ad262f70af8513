"""``/audit``: the log of actions, newest first."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session

from fleet.audit import service as audit
from fleet.tokens.service import Principal
from fleet.web.auth import api_principal, db
from fleet.web.schemas import AuditPageOut, audit_out

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=AuditPageOut, summary="The audit log")
def page(principal: Principal = Depends(api_principal), session: Session = Depends(db),
         limit: int = Query(100, ge=1, le=500),
         before: int | None = Query(None, ge=1, le=2**31 - 1),
         action: str | None = Query(None, max_length=64)) -> AuditPageOut:
    """Who did what to which object (yours and about your objects; an admin sees all)."""
    p = audit.page(session, user_id=principal.scope, limit=limit, before=before, action=action)
    return AuditPageOut(items=[audit_out(e) for e in p.entries], next_before=p.next_before)
