"""``/search``: graphs (the caller's own), blocks and documentation pages by words."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlmodel import Session

from fleet.search import service as search
from fleet.tokens.service import Principal
from fleet.web.auth import api_principal, ctx_of, db

router = APIRouter(prefix="/search", tags=["search"])


class HitOut(BaseModel):
    """One search result, best first."""

    kind: str
    id: str
    source_id: str
    title: str
    snippet: str
    score: float
    relevance: float
    updated_at: datetime | None


@router.get("", response_model=list[HitOut], summary="Search graphs, blocks and docs")
def search_all(request: Request, principal: Principal = Depends(api_principal),
               session: Session = Depends(db),
               q: str = Query(..., min_length=1, max_length=500, description="Words to find."),
               kind: Literal["graph", "block", "doc"] | None = Query(None),
               limit: int = Query(20, ge=1, le=100)) -> list[HitOut]:
    """The best hits for ``q`` by full-text rank and recency; graphs are only your own."""
    ctx = ctx_of(request)
    hits = search.search(session, ctx.clock(), settings=ctx.settings,
                         user_id=principal.user_id, query=q, kind=kind, limit=limit)
    return [HitOut(**h.to_dict()) for h in hits]
