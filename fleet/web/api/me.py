"""``/me``: who the token says you are."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from fleet.tokens.service import Principal
from fleet.web.auth import api_principal, ctx_of
from fleet.web.schemas import MeOut, me_out

router = APIRouter(tags=["me"])


@router.get("/me", response_model=MeOut, summary="The caller's user, role and token")
def me(request: Request, principal: Principal = Depends(api_principal)) -> MeOut:
    """The user and role of the presented token."""
    return me_out(principal, ctx_of(request).settings.web_read_only)
