"""``/alerts``: incidents with their deliveries, and a test notification."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlmodel import Session

from fleet.alerts import queries
from fleet.tokens.service import Principal
from fleet.web import actions
from fleet.web.auth import api_principal, ctx_of, db
from fleet.web.schemas import AlertOut, AlertTestIn, AlertTestOut, alert_out

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("", response_model=list[AlertOut], summary="List alerts")
def list_alerts(principal: Principal = Depends(api_principal), session: Session = Depends(db),
                state: Literal["firing", "resolved", "notice"] | None = Query(None),
                limit: int = Query(100, ge=1, le=500)) -> list[AlertOut]:
    """Alerts, most recently seen first, with their deliveries (admins see the fleet's;
    others their own notifications)."""
    scope = None if principal.is_admin else principal.user_id
    return [alert_out(v) for v in queries.list_alerts(session, user_id=scope, state=state,
                                                      limit=limit)]


@router.post("/test", response_model=AlertTestOut, summary="Send a test notification")
def test(request: Request, body: AlertTestIn, principal: Principal = Depends(api_principal),
         session: Session = Depends(db)) -> AlertTestOut:
    """Admins test ``ops`` and ``product``; anyone acting tests their own (``user``)."""
    result = actions.test_alert(ctx_of(request), session, actions.Caller(principal), body.tag)
    return AlertTestOut(tag=body.tag, ok=result.ok, detail=result.detail)
