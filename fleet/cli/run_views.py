"""``fleet runs show`` and ``fleet runs trace``: a run's nodes, metrics and event flow."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import typer
from rich.table import Table

from fleet.cli.context import console, ctx_of, handle_errors, print_json
from fleet.engine.tracker import Tracker
from fleet.errors import NotFound
from fleet.store import node_runs
from fleet.store import runs as run_store
from fleet.store.models import NodeRun, Run, RunEvent

JSON = typer.Option(False, "--json", help="Machine-readable output.")
RUN_FIELDS = ("id", "user_id", "graph_id", "graph_version", "schedule_id", "state", "inputs",
              "outputs", "error_code", "error_detail", "waiting_reason", "attempt_count",
              "max_attempts", "runtime_id", "cancel_requested", "created_at", "queued_at",
              "started_at", "completed_at", "wall_time_s", "cpu_time_s", "node_count",
              "node_error_count", "cost")


def _load(ctx: typer.Context, run_id: str) -> tuple[Run, list[NodeRun], list[RunEvent]]:
    with ctx_of(ctx).session() as session:
        run = run_store.get(session, run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist; see `fleet runs list`")
        return run, node_runs.for_run(session, run_id), run_store.events(session, run_id)


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


def add_commands(app: typer.Typer) -> None:
    """Add ``show`` and ``trace`` to the ``fleet runs`` group."""
    app.command("show")(handle_errors(show))
    app.command("trace")(handle_errors(trace))
