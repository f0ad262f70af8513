"""``/graphs``: list, show, add a version, validate, archive, delete.

Graph ids are per owner. A viewer or operator names only their own graphs; an admin
reads and acts on anyone's with ``owner``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from sqlmodel import Session

from fleet.engine.validate import graph_problems
from fleet.graphs import queries
from fleet.graphs import service as graphs
from fleet.tokens.service import Principal
from fleet.web import actions
from fleet.web.auth import api_principal, ctx_of, db
from fleet.web.schemas import (
    GraphOut,
    GraphPageOut,
    RemovedOut,
    ValidateOut,
    graph_out,
    graph_summary,
)

router = APIRouter(prefix="/graphs", tags=["graphs"])

OWNER = Query(None, min_length=1, max_length=128,
              description="Admins: whose graph (default: your own).")
DEFINITION = Body(..., description="A graph definition (the JSON form of a graph file).")


@router.get("", response_model=GraphPageOut, summary="List graphs (active versions)")
def list_graphs(principal: Principal = Depends(api_principal), session: Session = Depends(db),
                owner: str | None = OWNER, archived: bool = Query(False),
                limit: int = Query(100, ge=1, le=500),
                cursor: str | None = Query(None, max_length=1000)) -> GraphPageOut:
    """The active version of each graph you may see, most recently changed first."""
    page = queries.list_graphs(session, user_id=principal.scope, owner=owner,
                               include_archived=archived, limit=limit, cursor=cursor)
    return GraphPageOut(items=[graph_summary(g) for g in page.graphs],
                        next_cursor=page.next_cursor)


@router.post("", response_model=GraphOut, status_code=201,
             summary="Add a graph version (validated first)")
def add_graph(request: Request, response: Response,
              definition: dict[str, Any] = DEFINITION, owner: str | None = OWNER,
              principal: Principal = Depends(api_principal),
              session: Session = Depends(db)) -> GraphOut:
    """Store a definition as the graph's new active version (an unchanged one answers the
    current version with 200)."""
    caller = actions.Caller(principal)
    graph, created = actions.add_graph(ctx_of(request), session, caller, definition, owner)
    if not created:
        response.status_code = 200
    versions = [g.version for g in graphs.owned_versions(session, graph.user_id, graph.id)]
    session.commit()
    return graph_out(graph, versions, created)


@router.post("/validate", response_model=ValidateOut, summary="Validate a definition")
def validate(request: Request, definition: dict[str, Any] = DEFINITION) -> ValidateOut:
    """Every problem of a definition (unknown blocks and pins, missing inputs, type
    mismatches, cycles); nothing is stored."""
    problems = graph_problems(definition, ctx_of(request).registry)
    return ValidateOut(valid=not problems, problems=problems)


@router.get("/{graph_id}", response_model=GraphOut, summary="Show a graph version")
def show(graph_id: str, principal: Principal = Depends(api_principal),
         session: Session = Depends(db), owner: str | None = OWNER,
         version: int | None = Query(None, ge=1, le=2**31 - 1)) -> GraphOut:
    """A version of a graph (the active one by default) with its definition."""
    user = actions.owner_to_read(actions.Caller(principal), owner)
    graph = graphs.get(session, user, graph_id, version)
    versions = [g.version for g in graphs.owned_versions(session, user, graph_id)]
    session.commit()
    return graph_out(graph, versions)


@router.post("/{graph_id}/archive", response_model=RemovedOut, summary="Archive a graph")
def archive(request: Request, graph_id: str, owner: str | None = OWNER,
            principal: Principal = Depends(api_principal),
            session: Session = Depends(db)) -> RemovedOut:
    """Archive every version (no new runs); the graph's schedules are removed."""
    n = actions.archive_graph(ctx_of(request), session, actions.Caller(principal), graph_id,
                              owner)
    return RemovedOut(graph_id=graph_id, versions=n)


@router.delete("/{graph_id}", response_model=RemovedOut, summary="Delete a graph")
def delete(request: Request, graph_id: str, owner: str | None = OWNER,
           principal: Principal = Depends(api_principal),
           session: Session = Depends(db)) -> RemovedOut:
    """Delete every version; the graph's schedules are removed, runs keep their rows."""
    n = actions.delete_graph(ctx_of(request), session, actions.Caller(principal), graph_id,
                             owner)
    return RemovedOut(graph_id=graph_id, versions=n)
