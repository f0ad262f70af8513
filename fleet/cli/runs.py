"""``fleet runs``: submit, act on (cancel, approve, reject, complete a tool) and inspect runs."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import datetime
from typing import Any

import typer
from rich.table import Table

from fleet.cli.context import console, ctx_of, handle_errors, print_json
from fleet.cli.inputs import parse_credentials, parse_inputs
from fleet.clock import utcnow
from fleet.engine.tracker import Tracker
from fleet.errors import InvalidInput, NotFound
from fleet.ports import RunSender
from fleet.runs import control
from fleet.runs.submit import submit
from fleet.store import node_runs
from fleet.store import runs as store
from fleet.store.models import ACTIVE_STATES, NodeRun, Run, RunEvent, RunState

app = typer.Typer(help="Submit, inspect and act on runs.", no_args_is_help=True)

WAIT_STATES = frozenset({RunState.QUEUED.value, RunState.RUNNING.value})


def _sender(ctx: typer.Context) -> RunSender:
    # lazy: the broker client loads only for the commands that send
    from fleet.worker.wiring import run_sender

    return run_sender(ctx_of(ctx).settings)


def _run_dict(run: Any) -> dict[str, Any]:
    return {
        "id": run.id, "state": run.state, "user_id": run.user_id, "graph_id": run.graph_id,
        "graph_version": run.graph_version, "attempt_count": run.attempt_count,
        "max_attempts": run.max_attempts, "created_at": run.created_at,
        "started_at": run.started_at, "completed_at": run.completed_at,
        "error_code": run.error_code, "error_detail": run.error_detail,
        "cancel_requested": run.cancel_requested, "outputs": run.outputs,
        "credentials": run.credentials,
        "runtime_id": run.runtime_id,
    }


def _show(run: Any, json_out: bool) -> None:
    if json_out:
        print_json(_run_dict(run))
    else:
        extra = f" ({run.error_code}: {run.error_detail})" if run.error_code else ""
        console.print(f"run [bold]{run.id}[/] {run.state}{extra}", highlight=False)



@app.command("submit")
@handle_errors
def submit_cmd(
    ctx: typer.Context,
    graph_id: str = typer.Argument(..., help="Graph to run."),
    version: int | None = typer.Option(None, "--version", help="Graph version "
                                       "(default: the active one)."),
    input_: list[str] = typer.Option([], "--input", "-i", help="Input as name=value "
                                     "(value parsed as JSON when it is JSON)."),
    inputs_json: str | None = typer.Option(None, "--inputs-json",
                                           help="Inputs as one JSON object."),
    credential: list[str] = typer.Option([], "--credential", "-c", help="A credential for a "
                                         "node's credential input: node.pin=CREDENTIAL_ID "
                                         "(repeatable; ids only, never secrets)."),
    user: str = typer.Option("local", "--user", "-u", help="Who submits (the owner)."),
    wait: bool = typer.Option(False, "--wait", help="Wait until the run finishes "
                              "or waits."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds --wait waits."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Submit a run: recorded as queued first, then sent to the workers."""
    c = ctx_of(ctx)
    inputs = parse_inputs(input_, inputs_json)
    credentials = parse_credentials(credential)
    # lazy: the blocks (httpx among them) load only for the commands that validate
    from fleet.engine.blocks.registry import default_registry

    with c.session() as session:
        run = submit(session, graph_id=graph_id, version=version, inputs=inputs,
                     user_id=user, now=utcnow(), send=_sender(ctx),
                     registry=default_registry(), settings=c.settings,
                     credentials=credentials)
        if wait:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                row = store.get(session, run.id, fresh=True)
                session.rollback()
                if row is not None and row.state not in WAIT_STATES:
                    run = row
                    break
                time.sleep(0.25)
            else:
                row = store.get(session, run.id, fresh=True)
                run = row or run
                _show(run, json_out)
                raise typer.Exit(3)
        _show(run, json_out)

@app.command("cancel")
@handle_errors
def cancel_cmd(ctx: typer.Context, run_id: str = typer.Argument(...),
               user: str | None = typer.Option(None, "--user", "-u",
                                               help="Act as this user (owner check)."),
               json_out: bool = typer.Option(False, "--json")) -> None:
    """Cancel a run: at once when queued or waiting, at the next node when running."""
    with ctx_of(ctx).session() as session:
        _show(control.cancel(session, run_id, now=utcnow(), user_id=user), json_out)

@app.command("approve")
@handle_errors
def approve_cmd(ctx: typer.Context, run_id: str = typer.Argument(...),
                user: str | None = typer.Option(None, "--user", "-u"),
                json_out: bool = typer.Option(False, "--json")) -> None:
    """Approve a run waiting for approval; it resumes from its checkpoint."""
    with ctx_of(ctx).session() as session:
        _show(control.approve(session, run_id, now=utcnow(), send=_sender(ctx),
                              user_id=user), json_out)

@app.command("reject")
@handle_errors
def reject_cmd(ctx: typer.Context, run_id: str = typer.Argument(...),
               user: str | None = typer.Option(None, "--user", "-u"),
               json_out: bool = typer.Option(False, "--json")) -> None:
    """Reject a run waiting for approval."""
    with ctx_of(ctx).session() as session:
        _show(control.reject(session, run_id, now=utcnow(), user_id=user), json_out)

@app.command("complete-tool")
@handle_errors
def complete_tool_cmd(ctx: typer.Context, run_id: str = typer.Argument(...),
                      node: str = typer.Option(..., "--node", help="The tool node."),
                      output: str = typer.Option(..., "--output", help="Result as JSON."),
                      user: str | None = typer.Option(None, "--user", "-u"),
                      json_out: bool = typer.Option(False, "--json")) -> None:
    """Deliver an external tool's result; the run resumes from its checkpoint."""
    try:
        value = json.loads(output)
    except json.JSONDecodeError as exc:
        raise InvalidInput("--output must be JSON", [f"--output: {exc}"]) from exc
    with ctx_of(ctx).session() as session:
        _show(control.complete_tool(session, run_id, node_id=node, output=value,
                                    now=utcnow(), send=_sender(ctx), user_id=user),
              json_out)

@app.command("list")
@handle_errors
def list_cmd(ctx: typer.Context,
             state: str | None = typer.Option(None, "--state", help="Only this state."),
             user: str | None = typer.Option(None, "--user", "-u", help="Only this user."),
             graph: str | None = typer.Option(None, "--graph", help="Only this graph."),
             limit: int = typer.Option(50, "--limit", min=1, max=500),
             json_out: bool = typer.Option(False, "--json")) -> None:
    """The newest runs, with filters."""
    if state is not None and state not in {s.value for s in RunState}:
        raise InvalidInput(f"unknown state '{state}'",
                           [f"--state must be one of {', '.join(s.value for s in RunState)}"])
    with ctx_of(ctx).session() as session:
        rows = store.list_runs(session, state=state, user_id=user, graph_id=graph,
                               limit=limit)
    if json_out:
        print_json([_run_dict(r) for r in rows])
        return
    table = Table("id", "state", "graph", "user", "attempts", "created", "error")
    for r in rows:
        style = "yellow" if r.state in {s.value for s in ACTIVE_STATES} else None
        table.add_row(r.id, r.state, f"{r.graph_id} v{r.graph_version}", r.user_id,
                      f"{r.attempt_count}/{r.max_attempts}",
                      r.created_at.strftime("%Y-%m-%d %H:%M:%S"), r.error_code or "",
                      style=style)
    console.print(table)


JSON = typer.Option(False, "--json", help="Machine-readable output.")
RUN_FIELDS = ("id", "user_id", "graph_id", "graph_version", "schedule_id", "state", "inputs",
              "outputs", "error_code", "error_detail", "waiting_reason", "attempt_count",
              "max_attempts", "runtime_id", "cancel_requested", "created_at", "queued_at",
              "started_at", "completed_at", "wall_time_s", "cpu_time_s", "node_count",
              "node_error_count", "cost")


def _load(ctx: typer.Context, run_id: str) -> tuple[Run, list[NodeRun], list[RunEvent]]:
    with ctx_of(ctx).session() as session:
        run = store.get(session, run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist; see `fleet runs list`")
        return run, node_runs.for_run(session, run_id), store.events(session, run_id)


def _node_dict(n: NodeRun) -> dict[str, Any]:
    return {"node_id": n.node_id, "block_id": n.block_id, "exec_key": n.exec_key,
            "state": n.state, "attempt": n.attempt, "inputs": n.inputs, "outputs": n.outputs,
            "error": n.error, "started_at": n.started_at, "completed_at": n.completed_at,
            "wall_time_s": n.wall_time_s, "resume": n.resume}


def _event_dict(e: RunEvent) -> dict[str, Any]:
    return {"at": e.at, "kind": e.kind, "from_state": e.from_state, "to_state": e.to_state,
            "source_node": e.source_node, "source_pin": e.source_pin,
            "sink_node": e.sink_node, "sink_pin": e.sink_pin, "data": e.data, "detail": e.detail}


def _s(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}s"


def _short(value: Any, width: int = 48) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command("show")
@handle_errors
def show(ctx: typer.Context, run_id: str = typer.Argument(...), json_out: bool = JSON) -> None:
    """Show a run: its state, node executions and the tracker's metrics."""
    run, nodes, _ = _load(ctx, run_id)
    tracker = Tracker.from_dict(run.tracker) if run.tracker else None
    if json_out:
        print_json({
            "run": {f: getattr(run, f) for f in RUN_FIELDS},
            "nodes": [_node_dict(n) for n in nodes],
            "metrics": ({"run": asdict(tracker.run_metrics()),
                         "blocks": {b: asdict(m) for b, m in tracker.block_metrics().items()}}
                        if tracker else None),
        })
        return
    console.print(f"run [bold]{run.id}[/]  graph {run.graph_id} v{run.graph_version}  "
                  f"owner {run.user_id}  state [bold]{run.state}[/]  attempt "
                  f"{run.attempt_count}/{run.max_attempts}")
    if run.error_code or run.waiting_reason:
        console.print(f"  {run.error_code or 'waiting'}: {run.error_detail or run.waiting_reason}",
                      highlight=False)
    console.print(f"  wall {_s(run.wall_time_s)}  cpu {_s(run.cpu_time_s)}  nodes "
                  f"{run.node_count} ({run.node_error_count} failed)  outputs "
                  f"{_short(run.outputs, 80)}", highlight=False)
    table = Table(title="node executions")
    for col in ("node", "block", "state", "attempt", "started", "duration", "result / error"):
        table.add_column(col)
    for n in nodes:
        table.add_row(n.node_id, n.block_id, n.state, str(n.attempt),
                      n.started_at.strftime("%H:%M:%S.%f")[:-3] if n.started_at else "",
                      _s(n.wall_time_s), n.error or _short(n.outputs))
    console.print(table)
    if tracker is None:
        return
    metrics = Table(title="metrics per block")
    for col in ("block", "count", "success", "min", "avg", "max", "p95"):
        metrics.add_column(col)
    for block, m in tracker.block_metrics().items():
        metrics.add_row(block, str(m.count), f"{m.success_rate:.0%}", _s(m.min_s), _s(m.avg_s),
                        _s(m.max_s), _s(m.p95_s))
    console.print(metrics)
    rm = tracker.run_metrics()
    console.print(f"  run: {rm.nodes.count} executions, success {rm.nodes.success_rate:.0%}, "
                  f"wall {_s(rm.wall_time_s)}, slowest {rm.slowest_node} ({_s(rm.slowest_s)}), "
                  f"critical path {' -> '.join(rm.critical_path)} ({_s(rm.critical_path_s)})",
                  highlight=False)


def timeline(nodes: list[NodeRun], width: int = 40) -> list[str]:
    """One text line per node execution, a bar placed on the run's time axis."""
    timed = [n for n in nodes if n.started_at and n.completed_at]
    if not timed:
        return []
    t0: datetime = min(n.started_at for n in timed if n.started_at)
    t1: datetime = max(n.completed_at for n in timed if n.completed_at)
    span = max((t1 - t0).total_seconds(), 1e-9)
    name_w = max(len(n.node_id) for n in timed)
    lines = []
    for n in timed:
        assert n.started_at and n.completed_at
        a = int((n.started_at - t0).total_seconds() / span * width)
        b = max(a + 1, int((n.completed_at - t0).total_seconds() / span * width))
        mark = "#" if n.state == "completed" else ("x" if n.state == "failed" else "~")
        lines.append(f"{n.node_id:<{name_w}} |{' ' * a}{mark * (b - a)}{' ' * (width - b)}| "
                     f"{_s(n.wall_time_s)} {n.state}")
    return lines


@app.command("trace")
@handle_errors
def trace(ctx: typer.Context, run_id: str = typer.Argument(...), json_out: bool = JSON) -> None:
    """Show a run's event flow (transitions and routed outputs) and a text timeline."""
    run, nodes, events = _load(ctx, run_id)
    if json_out:
        print_json({"run_id": run.id, "state": run.state,
                    "events": [_event_dict(e) for e in events],
                    "timeline": [_node_dict(n) for n in nodes]})
        return
    table = Table(title=f"event flow of run {run.id}")
    for col in ("at", "kind", "from", "to", "data / detail"):
        table.add_column(col)
    for e in events:
        if e.kind == "output":
            src = f"{e.source_node}.{e.source_pin}"
            dst = f"{e.sink_node}.{e.sink_pin}" if e.sink_node else "(run output)"
            table.add_row(e.at.strftime("%H:%M:%S.%f")[:-3], "output", src, dst, _short(e.data))
        else:
            table.add_row(e.at.strftime("%H:%M:%S.%f")[:-3], e.kind, e.from_state or "",
                          e.to_state or "", e.detail or "")
    console.print(table)
    lines = timeline(nodes)
    if lines:
        console.print("timeline:")
        for line in lines:
            console.print(line, highlight=False, markup=False)


def register(root: typer.Typer) -> None:
    """Add ``fleet runs`` to the root command."""
    root.add_typer(app, name="runs")
