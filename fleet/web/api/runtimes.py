"""``/runtimes``: the worker processes, their heartbeat age and the runs they hold."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlmodel import Session

from fleet.observe import runtimes
from fleet.web.auth import ctx_of, db
from fleet.web.schemas import RuntimeOut, runtime_out

router = APIRouter(prefix="/runtimes", tags=["runtimes"])


@router.get("", response_model=list[RuntimeOut], summary="List runtimes")
def list_runtimes(request: Request, session: Session = Depends(db),
                  status: Literal["online", "offline"] | None = Query(None),
                  limit: int = Query(200, ge=1, le=500)) -> list[RuntimeOut]:
    """Runtimes, most recently seen first (they belong to the fleet, not to a user)."""
    return [runtime_out(v) for v in runtimes.list_runtimes(
        session, ctx_of(request).clock(), status=status, limit=limit)]
