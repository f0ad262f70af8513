"""Runs: the filtered list (the filter lives in the URL), a run's page (DAG, timeline,
attempts, events, "why is this run not moving?", actions) and batch operations."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import Response

from fleet.errors import InvalidInput
from fleet.runs import batch, diagnose, queries
from fleet.runs.filters import STATES, RunFilter, parse
from fleet.store.models import ACTIVE_STATES
from fleet.tokens.service import Principal
from fleet.web import actions, svg
from fleet.web.auth import ctx_of
from fleet.web.pages.common import acting, back, render, viewer

router = APIRouter()
FILTER_FIELDS = ("state", "graph", "user", "schedule", "error", "since", "until")
ACTIVE = {s.value for s in ACTIVE_STATES}


def _filter_params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name in FILTER_FIELDS:
        values = [v for v in request.query_params.getlist(name) if v.strip()]
        if values:
            params[name] = values if name == "state" else values[0]
    return params


def _filter(request: Request) -> RunFilter:
    return parse(_filter_params(request), ctx_of(request).clock())


@router.get("/runs")
def runs_page(request: Request, principal: Principal = Depends(viewer),
              cursor: str | None = None, limit: int = 50) -> Response:
    """Runs matching the filter in the URL, newest first, a keyset page at a time."""
    ctx = ctx_of(request)
    f = _filter(request)
    limit = queries.check_limit(limit)
    with ctx.session() as session:
        page = queries.list_runs(session, f, user_id=principal.scope, limit=limit,
                                 cursor=cursor)
        count = queries.count_runs(session, f, user_id=principal.scope)
    return render(request, "runs.html", principal, runs=page.runs, count=count,
                  next_cursor=page.next_cursor, filter=f, params=f.params(),
                  raw=_filter_params(request), states=STATES, limit=limit, cursor=cursor)


def _bars(detail: queries.RunDetail) -> list[svg.Bar]:
    if detail.tracker and detail.tracker.get("executions"):
        return svg.bars_from_tracker(detail.tracker)
    return [svg.Bar(n.node_id, n.block_id, n.started_at, n.completed_at, n.state)
            for n in detail.nodes if n.started_at is not None]


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str, principal: Principal = Depends(viewer)) -> Response:
    """One run: state, why it is not moving, DAG, timeline, attempts, nodes, events."""
    ctx = ctx_of(request)
    now = ctx.clock()
    with ctx.session() as session:
        d = queries.detail(session, run_id, user_id=principal.scope)
        why = diagnose.why(session, run_id, now=now, settings=ctx.settings,
                           user_id=principal.scope, liveness=ctx.liveness)
    states = {n.node_id: n.state for n in d.nodes}
    dag = svg.dag(d.definition, states, ctx.settings.web_dag_max_nodes) if d.definition \
        else None
    bars = _bars(d)
    gantt = svg.gantt(bars, now, ctx.settings.web_gantt_max_rows) if bars else None
    return render(request, "run.html", principal, d=d, run=d.run, why=why, dag=dag,
                  gantt=gantt, bars=bars, active=d.run.state in ACTIVE, metrics=d.metrics,
                  dag_nodes=(d.definition or {}).get("nodes", []),
                  dag_links=(d.definition or {}).get("links", []))


@router.post("/runs/{run_id}/{action}")
def run_action(request: Request, run_id: str, action: str, csrf: str = Form(""),
               reason: str = Form("", max_length=2000),
               node_id: str = Form("", max_length=128),
               output: str = Form("", max_length=1_000_000),
               inputs: str = Form("", max_length=1_000_000)) -> Response:
    """cancel, approve, reject, complete-tool or retry, from the run page's forms."""
    principal = acting(request, csrf)
    ctx = ctx_of(request)
    caller = actions.Caller(principal, via="dashboard")
    url = f"/runs/{run_id}"
    with ctx.session() as session:
        if action == "cancel":
            run = actions.cancel_run(ctx, session, caller, run_id)
            return back(url, f"run {run_id} " + ("cancelled" if run.state == "cancelled"
                                                 else "will stop at its next node"))
        if action == "approve":
            actions.approve_run(ctx, session, caller, run_id)
            return back(url, "approved: the run resumes")
        if action == "reject":
            actions.reject_run(ctx, session, caller, run_id, reason or None)
            return back(url, "rejected")
        if action == "complete-tool":
            value = _json("output", output)
            actions.complete_tool(ctx, session, caller, run_id, node_id=node_id, output=value)
            return back(url, f"tool result delivered to {node_id}")
        if action == "retry":
            edited = _json("inputs", inputs) if inputs.strip() else None
            if edited is not None and not isinstance(edited, dict):
                raise InvalidInput("inputs must be a JSON object", ["inputs: not an object"])
            new = actions.retry_run(ctx, session, caller, run_id, edited)
            return back(f"/runs/{new.id}", f"retry of {run_id} submitted")
    raise InvalidInput("unknown action", [f"action: '{action}' is not a run action"])


def _json(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{name} must be JSON", [f"{name}: {exc}"]) from exc


@router.get("/batch")
def batch_preview(request: Request, principal: Principal = Depends(viewer),
                  action: str = "cancel") -> Response:
    """What a batch operation on the runs filter would touch: the count, then confirm."""
    ctx = ctx_of(request)
    f = _filter(request)
    with ctx.session() as session:
        count = batch.preview(session, action, f, user_id=principal.scope)
        recent = batch.recent(session, user_id=principal.scope, limit=10)
    return render(request, "batch.html", principal, action=action, filter=f,
                  params=f.params(), count=count, recent=recent)


@router.post("/batch")
def batch_start(request: Request, tasks: BackgroundTasks, csrf: str = Form(""),
                action: str = Form("cancel", max_length=16),
                filter_json: str = Form("{}", max_length=10_000)) -> Response:
    """Start the confirmed batch operation; its page shows the progress."""
    principal = acting(request, csrf)
    ctx = ctx_of(request)
    stored = _json("filter", filter_json)
    if not isinstance(stored, dict):
        raise InvalidInput("invalid filter", ["filter: not an object"])
    f = parse(stored, ctx.clock())
    caller = actions.Caller(principal, via="dashboard")
    with ctx.session() as session:
        op = actions.start_batch(ctx, session, caller, action, f)
    tasks.add_task(actions.run_batch, ctx, caller, op.id)
    return back(f"/batches/{op.id}", f"batch {action} started")


@router.get("/batches/{batch_id}")
def batch_page(request: Request, batch_id: str,
               principal: Principal = Depends(viewer)) -> Response:
    """A batch operation's progress."""
    ctx = ctx_of(request)
    with ctx.session() as session:
        op = batch.get(session, batch_id, user_id=principal.scope)
    return render(request, "batch_progress.html", principal, op=op,
                  params=RunFilter.from_dict(op.filter).params())
