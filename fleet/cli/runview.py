"""How runs look on the command line: one-line outcomes, ``show``, ``trace``, ``watch``,
and waiting for a run (``--wait``) with the exit codes of :mod:`fleet.cli.errors`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from fleet.cli.context import CliContext, console, esc, print_json
from fleet.cli.errors import EXIT_OK, EXIT_RUN_FAILED, EXIT_WAITED_OUT
from fleet.clock import as_utc, utcnow
from fleet.engine.tracker import Tracker
from fleet.runs.diagnose import Diagnosis, why
from fleet.runs.progress import TERMINAL, WAITING_STATES, NodeView, RunView, run_view
from fleet.store.models import NodeRun, Run, RunEvent

RUN_FIELDS = ("id", "user_id", "graph_id", "graph_version", "schedule_id", "retry_of", "state",
              "inputs", "outputs", "error_code", "error_detail", "waiting_reason",
              "attempt_count", "max_attempts", "runtime_id", "cancel_requested", "credentials",
              "created_at", "queued_at", "started_at", "completed_at", "wall_time_s",
              "cpu_time_s", "node_count", "node_error_count", "cost", "correctness_score")

STATE_STYLE = {"completed": "green", "failed": "red", "timeout": "red", "cancelled": "yellow",
               "running": "cyan", "queued": "blue", "waiting_approval": "magenta",
               "waiting_tool": "magenta", "pending": "dim", "not run": "dim"}


def run_dict(run: Run) -> dict[str, Any]:
    """The run's fields, JSON-ready."""
    return {f: getattr(run, f, None) for f in RUN_FIELDS}


def exit_code(state: str) -> int:
    """0 completed; 1 failed, timed out or cancelled; 3 not finished."""
    if state == "completed":
        return EXIT_OK
    if state in TERMINAL:
        return EXIT_RUN_FAILED
    return EXIT_WAITED_OUT


def _s(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}s"


def _cost(value: float | None) -> str:
    return f"{value or 0.0:.6g}"


def numbers_line(run: Run) -> str:
    """The run's cost (so far, when not finished) and its correctness score when it has one."""
    line = f"  cost {_cost(run.cost)}"
    if run.correctness_score is not None:
        line += f"  correctness score {run.correctness_score:.6g}"
    return line


def _short(value: Any, width: int = 48) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 1] + "…"


def _styled(state: str) -> Text:
    return Text(state, style=STATE_STYLE.get(state, ""))


def _elapsed(start: datetime | None, end: datetime | None, now: datetime) -> float | None:
    if start is None:
        return None
    return max(0.0, ((as_utc(end) if end else now) - as_utc(start)).total_seconds())


def failing_node(view: RunView) -> NodeView | None:
    """The node whose failure failed the run, if any."""
    return next((n for n in view.nodes if n.state == "failed"), None)


def outcome_lines(view: RunView) -> list[Text]:
    """What a finished (or stopped) run produced: its outputs, or its error."""
    run = view.run
    lines = []
    head = Text("run ")
    head.append(run.id, style="bold")
    head.append(" ")
    head.append_text(_styled(run.state))
    took = run.wall_time_s
    if took is not None and run.state in TERMINAL:
        head.append(f" in {took:.2f}s")
    if run.retry_of:
        head.append(f" (retry of {run.retry_of})")
    lines.append(head)
    if run.state == "completed":
        outputs = run.outputs or {}
        if not outputs:
            lines.append(Text("  (no outputs)"))
        for name, value in outputs.items():
            rendered = value if isinstance(value, str) else json.dumps(value, default=str)
            lines.append(Text(f"  {name}: {rendered}"))
    elif run.state in TERMINAL:
        if run.error_code or run.error_detail:
            lines.append(Text(f"  error {run.error_code or ''}: {run.error_detail or ''}",
                              style="red"))
        node = failing_node(view)
        if node is not None and node.error and node.error not in (run.error_detail or ""):
            lines.append(Text(f"  node {node.node_id} ({node.block_id}): {node.error}",
                              style="red"))
    if run.cost or run.correctness_score is not None:  # a free, ungraded run: no line
        lines.append(Text(numbers_line(run)))
    return lines


def print_outcome(view: RunView) -> None:
    """Print the outcome lines."""
    for line in outcome_lines(view):
        console.print(line)


# --- show ------------------------------------------------------------------------------------


def nodes_table(view: RunView, now: datetime, title: str | None = "nodes") -> Table:
    """The graph's nodes: state, executions, timing, and the result or error of each."""
    table = Table(title=title)
    for column in ("node", "block", "state", "runs", "elapsed", "cost", "result / error"):
        table.add_column(column)
    for n in view.nodes:
        if n.state == "running":
            elapsed = _s(_elapsed(n.since, None, now))
        else:
            elapsed = _s(n.wall_time_s) if n.executions else ""
        runs = "" if not n.executions else (
            str(n.executions) + (f" ({n.failures} failed)" if n.failures else ""))
        outputs = _short([v for _, v in n.outputs]) if n.outputs else ""
        # a node that completed after failed attempts shows its result (the attempts table
        # below has the errors)
        result = outputs if n.state == "completed" and outputs else (n.error or outputs)
        table.add_row(Text(n.node_id), Text(n.block_id), _styled(n.state), runs, elapsed,
                      _cost(n.cost) if n.executions else "",
                      Text(result, style="red" if n.error else ""))
    return table


def show_json(view: RunView) -> dict[str, Any]:
    """``runs show --json``."""
    run = view.run
    tracker = Tracker.from_dict(run.tracker) if run.tracker else None
    return {
        "run": run_dict(run),
        "retries": view.retries,
        "current": view.current,
        "progress": [n.to_dict() for n in view.nodes],
        "nodes": [node_run_dict(n) for n in view.node_runs],
        "metrics": tracker.metrics_dict() if tracker else None,
    }


def node_run_dict(n: NodeRun) -> dict[str, Any]:
    """One node execution, JSON-ready."""
    return {"node_id": n.node_id, "block_id": n.block_id, "exec_key": n.exec_key,
            "state": n.state, "attempt": n.attempt, "node_attempt": n.node_attempt,
            "inputs": n.inputs, "outputs": n.outputs,
            "error": n.error, "started_at": n.started_at, "completed_at": n.completed_at,
            "wall_time_s": n.wall_time_s, "cost": n.cost, "resume": n.resume}


def print_show(view: RunView, now: datetime) -> None:
    """``runs show``: the run, its links, its nodes (in progress too) and its metrics."""
    run = view.run
    console.print(f"run [bold]{esc(run.id)}[/]  graph {esc(run.graph_id)} v{run.graph_version}  "
                  f"owner {esc(run.user_id)}  state [bold]{esc(run.state)}[/]  attempt "
                  f"{run.attempt_count}/{run.max_attempts}")
    if run.retry_of:
        console.print(f"  retry of run {esc(run.retry_of)}")
    if view.retries:
        console.print(f"  retried as run(s) {esc(', '.join(view.retries))}")
    if run.error_code or run.waiting_reason:
        console.print(Text(f"  {run.error_code or 'waiting'}: "
                           f"{run.error_detail or run.waiting_reason}",
                           style="red" if run.error_code else ""))
    if run.state in TERMINAL:
        console.print(Text(f"  wall {_s(run.wall_time_s)}  cpu {_s(run.cpu_time_s)}  nodes "
                           f"{run.node_count} ({run.node_error_count} failed)  outputs "
                           f"{_short(run.outputs, 80)}"))
    else:
        console.print(Text(f"  {view.done}/{len(view.nodes)} nodes done"
                           + (f"; in progress: {', '.join(view.current)}" if view.current
                              else "")))
    console.print(Text(numbers_line(run)))
    console.print(nodes_table(view, now))
    retried = attempts_table(view.node_runs)
    if retried is not None:
        console.print(retried)
    tracker = Tracker.from_dict(run.tracker) if run.tracker else None
    if tracker is None:
        return
    metrics = Table(title="metrics per block")
    for col in ("block", "count", "success", "min", "avg", "max", "p95"):
        metrics.add_column(col)
    for block, m in tracker.block_metrics().items():
        metrics.add_row(Text(block), str(m.count), f"{m.success_rate:.0%}", _s(m.min_s),
                        _s(m.avg_s), _s(m.max_s), _s(m.p95_s))
    console.print(metrics)
    rm = tracker.run_metrics()
    console.print(Text(f"  run: {rm.nodes.count} executions, success "
                       f"{rm.nodes.success_rate:.0%}, wall {_s(rm.wall_time_s)}, slowest "
                       f"{rm.slowest_node} ({_s(rm.slowest_s)}), critical path "
                       f"{' -> '.join(rm.critical_path)} ({_s(rm.critical_path_s)})"))


def retried_nodes(nodes: list[NodeRun]) -> set[str]:
    """The nodes a retry policy executed more than once."""
    return {n.node_id for n in nodes if n.node_attempt > 1}


def attempts_table(nodes: list[NodeRun]) -> Table | None:
    """Every attempt of the nodes that were retried (None when no node was)."""
    retried = retried_nodes(nodes)
    if not retried:
        return None
    table = Table(title="node attempts (retry policy)")
    for column in ("node", "attempt", "state", "elapsed", "result / error"):
        table.add_column(column)
    for n in sorted((n for n in nodes if n.node_id in retried),
                    key=lambda n: (n.node_id, n.exec_key.split("@")[0], n.node_attempt)):
        result = n.error or (_short([v for _, v in n.outputs]) if n.outputs else "")
        table.add_row(Text(n.node_id), str(n.node_attempt), _styled(n.state),
                      _s(n.wall_time_s), Text(result, style="red" if n.error else ""))
    return table


# --- trace -----------------------------------------------------------------------------------


def timeline(nodes: list[NodeRun], width: int = 40) -> list[str]:
    """One text line per node execution, a bar placed on the run's time axis."""
    timed = [n for n in nodes if n.started_at and n.completed_at]
    if not timed:
        return []
    t0: datetime = min(n.started_at for n in timed if n.started_at)
    t1: datetime = max(n.completed_at for n in timed if n.completed_at)
    span = max((t1 - t0).total_seconds(), 1e-9)
    retried = retried_nodes(nodes)
    names = {id(n): n.node_id + (f" #{n.node_attempt}" if n.node_id in retried else "")
             for n in timed}
    name_w = max(len(name) for name in names.values())
    lines = []
    for n in timed:
        assert n.started_at and n.completed_at
        a = int((n.started_at - t0).total_seconds() / span * width)
        b = max(a + 1, int((n.completed_at - t0).total_seconds() / span * width))
        mark = "#" if n.state == "completed" else ("x" if n.state == "failed" else "~")
        lines.append(f"{names[id(n)]:<{name_w}} |{' ' * a}{mark * (b - a)}{' ' * (width - b)}| "
                     f"{_s(n.wall_time_s)} {n.state}")
    return lines


def event_dict(e: RunEvent) -> dict[str, Any]:
    """One event, JSON-ready."""
    return {"at": e.at, "kind": e.kind, "from_state": e.from_state, "to_state": e.to_state,
            "source_node": e.source_node, "source_pin": e.source_pin,
            "sink_node": e.sink_node, "sink_pin": e.sink_pin, "data": e.data, "detail": e.detail}


def errors_of(view: RunView) -> list[dict[str, Any]]:
    """The run's error and every failed node execution's, oldest first."""
    found = [{"node_id": n.node_id, "block_id": n.block_id, "attempt": n.attempt,
              "node_attempt": n.node_attempt, "at": n.completed_at, "error": n.error}
             for n in view.node_runs if n.state == "failed" or n.error]
    if view.run.error_code or view.run.error_detail:
        found.append({"node_id": None, "block_id": None, "attempt": view.run.attempt_count,
                      "node_attempt": None,
                      "at": view.run.completed_at, "error": f"{view.run.error_code or ''}: "
                                                            f"{view.run.error_detail or ''}"})
    return found


def print_trace(view: RunView) -> None:
    """``runs trace``: the event flow, the errors and a text timeline."""
    run = view.run
    table = Table(title=f"event flow of run {esc(run.id)}")
    for col in ("at", "kind", "from", "to", "data / detail"):
        table.add_column(col)
    for e in view.events:
        at = e.at.strftime("%H:%M:%S.%f")[:-3]
        if e.kind == "output":
            src = f"{e.source_node}.{e.source_pin}"
            dst = f"{e.sink_node}.{e.sink_pin}" if e.sink_node else "(run output)"
            table.add_row(at, "output", Text(src), Text(dst), Text(_short(e.data)))
        else:
            table.add_row(at, e.kind, Text(e.from_state or e.source_node or ""), e.to_state or "",
                          Text(e.detail or ""))
    console.print(table)
    errors = errors_of(view)
    retried = retried_nodes(view.node_runs)
    if errors:
        console.print(Text("errors:", style="bold red"))
        for err in errors:
            where = (f"node {err['node_id']} ({err['block_id']}), attempt {err['attempt']}"
                     + (f", node attempt {err['node_attempt']}"
                        if err["node_id"] in retried else "")
                     if err["node_id"] else "run")
            console.print(Text(f"  {where}: {err['error']}", style="red"))
    lines = timeline(view.node_runs)
    if lines:
        console.print("timeline:")
        for line in lines:
            console.print(Text(line))


# --- waiting and watching --------------------------------------------------------------------


def load(cli: CliContext, run_id: str, owner: str | None) -> RunView:
    """The run as the owner sees it, read afresh."""
    with cli.session() as session:
        return run_view(session, run_id, user_id=owner)


def diagnose(cli: CliContext, run_id: str, owner: str | None) -> Diagnosis:
    """"Why is this run not moving?" (the dashboard's answer, from the database's view)."""
    with cli.session() as session:
        return why(session, run_id, now=utcnow(), settings=cli.settings, user_id=owner)


def next_step(run: Run) -> str | None:
    """The command that moves a parked run on, if any."""
    if run.state == "waiting_approval":
        return f"`fleet runs approve {run.id}` or `fleet runs reject {run.id}`"
    if run.state == "waiting_tool":
        return f"`fleet runs complete-tool {run.id} --node NODE --output JSON`"
    if run.state == "running":
        return f"follow it with `fleet runs watch {run.id}`"
    return None


def hint(cli: CliContext, run: Run, owner: str | None) -> str:
    """Why the run has not finished, in one line: its state and every cause found
    (queue position, no worker online, scheduler silent, waiting since...), and what to do."""
    d = diagnose(cli, run.id, owner)
    causes = [c.text for c in d.causes] or [d.headline]
    step = next_step(run)
    return (f"run {run.id} is {d.state}: " + "; ".join(causes)
            + (f". Next: {step}" if step else ""))


def wait_for(cli: CliContext, run_id: str, owner: str | None, timeout_s: float, *,
             until_parked: bool = True, interval_s: float = 0.25,
             on_tick: Callable[[RunView], None] | None = None,
             clock: Callable[[], float] = time.monotonic) -> RunView:
    """Poll the run until it finishes (or parks, with ``until_parked``) or time runs out."""
    deadline = clock() + timeout_s
    while True:
        view = load(cli, run_id, owner)
        if on_tick is not None:
            on_tick(view)
        state = view.run.state
        if state in TERMINAL or (until_parked and state in WAITING_STATES):
            return view
        if clock() >= deadline:
            return view
        time.sleep(min(interval_s, max(0.0, deadline - clock())))


def finish(cli: CliContext, view: RunView, owner: str | None, json_out: bool,
           quiet: bool = False) -> int:
    """Print how the wait ended and return the exit code (0, 1 or 3)."""
    code = exit_code(view.run.state)
    reason = hint(cli, view.run, owner) if code == EXIT_WAITED_OUT else None
    if json_out:
        print_json({**run_dict(view.run), "exit_code": code, "hint": reason})
    elif quiet:
        console.print(Text(view.run.id))
    else:
        print_outcome(view)
        if reason:
            console.print(Text(f"waited out: {reason}", style="yellow"))
    return code


def watch_frame(view: RunView, now: datetime) -> Group:
    """One frame of ``runs watch``: a header line and the nodes table."""
    run = view.run
    head = Text("run ")
    head.append(run.id, style="bold")
    head.append(f"  {run.graph_id} v{run.graph_version}  ")
    head.append_text(_styled(run.state))
    elapsed = _elapsed(run.started_at, run.completed_at if run.state in TERMINAL else None,
                       now)
    head.append(f"  elapsed {elapsed:.1f}s" if elapsed is not None else "  not started")
    head.append(f"  attempt {run.attempt_count}/{run.max_attempts}")
    progress = Text(f"{view.done}/{len(view.nodes)} nodes done")
    if view.current:
        progress.append(f"  current: {', '.join(view.current)}")
    retried = sum(n.failures for n in view.nodes if n.state != "failed")
    if retried:
        progress.append(f"  node retries: {retried}")
    return Group(head, progress, nodes_table(view, now, title=None))


def watch(cli: CliContext, run_id: str, owner: str | None, *, timeout_s: float | None,
          interval_s: float, json_out: bool) -> int:
    """Follow the run live until it finishes; the exit code of its outcome."""
    limit = timeout_s if timeout_s is not None else float("inf")
    if json_out:
        view = wait_for(cli, run_id, owner, limit, until_parked=False, interval_s=interval_s)
        return finish(cli, view, owner, json_out=True)
    interrupted = False
    if console.is_terminal:
        with Live(console=console, refresh_per_second=8, auto_refresh=False) as live:
            def _draw(v: RunView) -> None:
                live.update(watch_frame(v, utcnow()), refresh=True)

            try:
                view = wait_for(cli, run_id, owner, limit, until_parked=False,
                                interval_s=interval_s, on_tick=_draw)
            except KeyboardInterrupt:
                interrupted = True
                view = load(cli, run_id, owner)
    else:
        seen: dict[str, str] = {}

        def _log(v: RunView) -> None:
            states = {"run": v.run.state, **{n.node_id: n.state for n in v.nodes}}
            for key, state in states.items():
                if seen.get(key, "pending") != state:  # nodes start pending: say when they move
                    seen[key] = state
                    what = "run" if key == "run" else f"node {key}"
                    console.print(Text(f"{utcnow().strftime('%H:%M:%S')} {what} {state}"))

        try:
            view = wait_for(cli, run_id, owner, limit, until_parked=False,
                            interval_s=interval_s, on_tick=_log)
        except KeyboardInterrupt:
            interrupted = True
            view = load(cli, run_id, owner)
    code = finish(cli, view, owner, json_out=False)
    if interrupted and code == EXIT_WAITED_OUT:
        console.print(Text("stopped watching (the run goes on)", style="yellow"))
    return code
