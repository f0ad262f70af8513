"""``fleet runs``: submit, watch, inspect, retry and act on runs.

Every command acts as the acting user (``--user``, else FLEET_USER, else
``local``) on that user's runs; ``--operator`` acts across users. Run ids may
be shortened to any unique prefix. Exit codes: see :mod:`fleet.cli.errors`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from rich.text import Text

from fleet.cli import runview
from fleet.cli.context import (
    JSON,
    OPERATOR,
    USER,
    WIDE,
    CliContext,
    console,
    ctx_of,
    handle_errors,
    keep_ids_whole,
    print_json,
    short_ids,
)
from fleet.cli.ids import resolve
from fleet.cli.inputs import parse_credentials, parse_inputs, read_json_value
from fleet.clock import utcnow
from fleet.errors import InvalidInput
from fleet.store import runs as store
from fleet.store.models import ACTIVE_STATES, Run, RunState

if TYPE_CHECKING:
    from sqlmodel import Session

    from fleet.engine.blocks.registry import BlockRegistry
    from fleet.ports import RunSender

app = typer.Typer(help="Submit, watch, inspect, retry and act on runs.", no_args_is_help=True)

INPUT = typer.Option([], "--input", "-i", help="Input as name=value (value parsed as JSON "
                     "when it is JSON); repeatable.")
INPUTS_JSON = typer.Option(None, "--inputs-json", help="Inputs as one JSON object: inline, "
                           "@FILE, or - for standard input.")
WAIT = typer.Option(False, "--wait", help="Wait until the run finishes (or waits for a "
                    "human); print its outputs or its error. Exit 0 completed, 1 failed, "
                    "timed out or cancelled, 3 still unfinished when the wait ends.")
TIMEOUT = typer.Option(300.0, "--timeout", min=0, help="Seconds --wait waits.")
QUIET = typer.Option(False, "--quiet", "-q", help="Print only the run id.")


def _sender(cli: CliContext) -> RunSender:
    # lazy: the broker client loads only for the commands that send
    from fleet.worker.wiring import run_sender

    return run_sender(cli.settings)


def _registry() -> BlockRegistry:
    # lazy: the blocks (httpx among them) load only for the commands that check graphs
    from fleet.engine.blocks.registry import default_registry

    return default_registry()


def _owner(cli: CliContext, user: str | None, operator: bool, action: str) -> str | None:
    return cli.scope(user, operator, action)


def _run_id(cli: CliContext, ref: str, owner: str | None) -> str:
    with cli.session() as session:
        return resolve(session, "run", ref, owner)


def _after_submit(cli: CliContext, run: Run, owner: str | None, *, wait: bool, timeout: float,
                  quiet: bool, json_out: bool) -> None:
    """Print the new run (or wait for it) and exit with the outcome's code."""
    if wait:
        view = runview.wait_for(cli, run.id, owner, timeout)
        raise typer.Exit(runview.finish(cli, view, owner, json_out, quiet))
    if json_out:
        print_json(runview.run_dict(run))
    elif quiet:
        console.print(Text(run.id))
    else:
        line = Text("run ")
        line.append(run.id, style="bold")
        line.append(f" {run.state}" + (f" (retry of {run.retry_of})" if run.retry_of else ""))
        console.print(line)
        console.print(Text(f"  follow it: fleet runs watch {run.id[:8]}", style="dim"))


@app.command("submit")
@handle_errors
def submit_cmd(
    ctx: typer.Context,
    graph_id: str = typer.Argument(..., help="Graph to run (one of yours)."),
    version: int | None = typer.Option(None, "--version", help="Graph version "
                                       "(default: the active one)."),
    input_: list[str] = INPUT,
    inputs_json: str | None = INPUTS_JSON,
    credential: list[str] = typer.Option([], "--credential", "-c", help="A credential for a "
                                         "node's credential input: node.pin=CREDENTIAL_ID "
                                         "(repeatable; ids only, never secrets)."),
    user: str | None = USER,
    wait: bool = WAIT,
    timeout: float = TIMEOUT,
    quiet: bool = QUIET,
    json_out: bool = JSON,
) -> None:
    """Submit a run: recorded as queued first, then sent to the workers."""
    cli = ctx_of(ctx)
    inputs = parse_inputs(input_, inputs_json)
    credentials = parse_credentials(credential)
    owner = cli.user(user)
    # lazy: the submission services load only for the commands that submit
    from fleet.runs.submit import submit

    with cli.session() as session:
        run = submit(session, graph_id=graph_id, version=version, inputs=inputs,
                     user_id=owner, now=utcnow(), send=_sender(cli),
                     registry=_registry(), settings=cli.settings,
                     credentials=credentials)
    _after_submit(cli, run, owner, wait=wait, timeout=timeout, quiet=quiet, json_out=json_out)


@app.command("retry")
@handle_errors
def retry_cmd(
    ctx: typer.Context,
    run_ref: str = typer.Argument(..., help="The finished run to run again (id or prefix)."),
    input_: list[str] = INPUT,
    inputs_json: str | None = INPUTS_JSON,
    user: str | None = USER,
    operator: bool = OPERATOR,
    wait: bool = WAIT,
    timeout: float = TIMEOUT,
    quiet: bool = QUIET,
    json_out: bool = JSON,
) -> None:
    """Run a finished run again as a new run linked to it, with inputs edited if given."""
    cli = ctx_of(ctx)
    owner = _owner(cli, user, operator, f"runs retry {run_ref}")
    edits = parse_inputs(input_, inputs_json)
    run_id = _run_id(cli, run_ref, owner)
    # lazy: the run-control services load only for the commands that act on runs
    from fleet.runs import control

    with cli.session() as session:
        run = control.retry(session, run_id, now=utcnow(), send=_sender(cli),
                            registry=_registry(), settings=cli.settings,
                            user_id=owner, inputs=edits or None)
    _after_submit(cli, run, owner, wait=wait, timeout=timeout, quiet=quiet, json_out=json_out)


@app.command("watch")
@handle_errors
def watch_cmd(
    ctx: typer.Context,
    run_ref: str = typer.Argument(..., help="The run to follow (id or prefix)."),
    timeout: float | None = typer.Option(None, "--timeout", min=0,
                                         help="Stop watching after this many seconds "
                                              "(exit 3 if the run has not finished)."),
    interval: float = typer.Option(0.5, "--interval", min=0.05, help="Seconds between polls."),
    user: str | None = USER,
    operator: bool = OPERATOR,
    json_out: bool = JSON,
) -> None:
    """Follow a run live: node states, elapsed time, the current node, retries; then its
    outcome. Exit 0 completed, 1 failed/timed out/cancelled, 3 stopped watching first."""
    cli = ctx_of(ctx)
    owner = _owner(cli, user, operator, f"runs watch {run_ref}")
    run_id = _run_id(cli, run_ref, owner)
    raise typer.Exit(runview.watch(cli, run_id, owner, timeout_s=timeout, interval_s=interval,
                                   json_out=json_out))


def _acted(run: Run, json_out: bool, verb: str) -> None:
    if json_out:
        print_json(runview.run_dict(run))
        return
    line = Text("run ")
    line.append(run.id, style="bold")
    if verb == "cancel" and run.state == RunState.RUNNING.value:
        line.append(": cancel requested; it stops at the next node boundary")
    elif verb in {"approve", "complete-tool"} and run.state in {RunState.QUEUED.value,
                                                                RunState.RUNNING.value}:
        done = "approved" if verb == "approve" else "tool result delivered"
        line.append(f": {done}; {run.state}, it resumes from its checkpoint")
    else:
        line.append(f" {run.state}")
    console.print(line)


def _control(ctx: typer.Context, verb: str, run_ref: str, user: str | None, operator: bool,
             json_out: bool, act: Callable[[Any, Session, str, str | None, CliContext], Run]
             ) -> None:
    """Resolve the acting user and the run, then ``act(control, session, run_id, owner,
    cli)`` with the run-control services, and say what it did."""
    cli = ctx_of(ctx)
    owner = _owner(cli, user, operator, f"runs {verb} {run_ref}")
    run_id = _run_id(cli, run_ref, owner)
    # lazy: the run-control services load only for the commands that act on runs
    from fleet.runs import control

    with cli.session() as session:
        run = act(control, session, run_id, owner, cli)
    _acted(run, json_out, verb)


@app.command("cancel")
@handle_errors
def cancel_cmd(ctx: typer.Context, run_ref: str = typer.Argument(..., help="Id or prefix."),
               user: str | None = USER, operator: bool = OPERATOR,
               json_out: bool = JSON) -> None:
    """Cancel a run: at once when queued or waiting, at the next node when running."""
    _control(ctx, "cancel", run_ref, user, operator, json_out,
             lambda control, s, run_id, owner, _: control.cancel(
                 s, run_id, now=utcnow(), user_id=owner))


@app.command("approve")
@handle_errors
def approve_cmd(ctx: typer.Context, run_ref: str = typer.Argument(..., help="Id or prefix."),
                user: str | None = USER, operator: bool = OPERATOR,
                json_out: bool = JSON) -> None:
    """Approve a run waiting for approval; it resumes from its checkpoint."""
    _control(ctx, "approve", run_ref, user, operator, json_out,
             lambda control, s, run_id, owner, cli: control.approve(
                 s, run_id, now=utcnow(), send=_sender(cli), user_id=owner))


@app.command("reject")
@handle_errors
def reject_cmd(ctx: typer.Context, run_ref: str = typer.Argument(..., help="Id or prefix."),
               user: str | None = USER, operator: bool = OPERATOR,
               json_out: bool = JSON) -> None:
    """Reject a run waiting for approval (it is cancelled)."""
    _control(ctx, "reject", run_ref, user, operator, json_out,
             lambda control, s, run_id, owner, _: control.reject(
                 s, run_id, now=utcnow(), user_id=owner))


@app.command("complete-tool")
@handle_errors
def complete_tool_cmd(ctx: typer.Context,
                      run_ref: str = typer.Argument(..., help="Id or prefix."),
                      node: str = typer.Option(..., "--node", help="The tool node."),
                      output: str = typer.Option(..., "--output", help="The result as JSON: "
                                                 "inline, @FILE, or - for standard input."),
                      user: str | None = USER, operator: bool = OPERATOR,
                      json_out: bool = JSON) -> None:
    """Deliver an external tool's result; the run resumes from its checkpoint."""
    value = read_json_value(output, "--output")
    _control(ctx, "complete-tool", run_ref, user, operator, json_out,
             lambda control, s, run_id, owner, cli: control.complete_tool(
                 s, run_id, node_id=node, output=value, now=utcnow(), send=_sender(cli),
                 user_id=owner))


@app.command("list")
@handle_errors
def list_cmd(ctx: typer.Context,
             state: str | None = typer.Option(None, "--state", help="Only this state."),
             graph: str | None = typer.Option(None, "--graph", help="Only this graph."),
             limit: int = typer.Option(50, "--limit", min=1, max=500),
             user: str | None = USER, operator: bool = OPERATOR, wide: bool = WIDE,
             json_out: bool = JSON) -> None:
    """Your newest runs (every user's with --operator), with filters."""
    if state is not None and state not in {s.value for s in RunState}:
        raise InvalidInput(f"unknown state '{state}'",
                           [f"--state must be one of {', '.join(s.value for s in RunState)}"])
    cli = ctx_of(ctx)
    owner = _owner(cli, user, operator, "runs list")
    with cli.session() as session:
        rows = store.list_runs(session, state=state, user_id=owner, graph_id=graph,
                               limit=limit)
    if json_out:
        print_json([runview.run_dict(r) for r in rows])
        return
    if not rows:
        console.print(Text("no runs" + (f" for user '{owner}'" if owner else "")
                           + "; submit one with `fleet runs submit GRAPH_ID`"))
        return
    ids = short_ids([r.id for r in rows], wide)
    table = Table("id", "state", "graph", "user", "attempts", "created", "error")
    active = {s.value for s in ACTIVE_STATES}
    for r in rows:
        table.add_row(ids[r.id], Text(r.state, style="yellow" if r.state in active else ""),
                      Text(f"{r.graph_id} v{r.graph_version}"), Text(r.user_id),
                      f"{r.attempt_count}/{r.max_attempts}",
                      r.created_at.strftime("%Y-%m-%d %H:%M:%S"), Text(r.error_code or ""))
    keep_ids_whole(table, ids)
    console.print(table)


@app.command("show")
@handle_errors
def show(ctx: typer.Context, run_ref: str = typer.Argument(..., help="Id or prefix."),
         user: str | None = USER, operator: bool = OPERATOR, json_out: bool = JSON) -> None:
    """Show a run: its state, links, nodes (in progress too) and the tracker's metrics."""
    cli = ctx_of(ctx)
    owner = _owner(cli, user, operator, f"runs show {run_ref}")
    view = runview.load(cli, _run_id(cli, run_ref, owner), owner)
    if json_out:
        print_json(runview.show_json(view))
    else:
        runview.print_show(view, utcnow())


@app.command("why")
@handle_errors
def why_cmd(ctx: typer.Context, run_ref: str = typer.Argument(..., help="Id or prefix."),
            user: str | None = USER, operator: bool = OPERATOR, json_out: bool = JSON) -> None:
    """Why is this run not moving? Its state, every cause found and the facts behind them."""
    cli = ctx_of(ctx)
    owner = _owner(cli, user, operator, f"runs why {run_ref}")
    run_id = _run_id(cli, run_ref, owner)
    d = runview.diagnose(cli, run_id, owner)
    if json_out:
        print_json(d.to_dict())
        return
    line = Text("run ")
    line.append(d.run_id, style="bold")
    line.append(f" {d.state}: {d.headline}")
    console.print(line)
    for cause in d.causes[1:]:
        console.print(Text(f"  also: {cause.text}"))
    for key, value in d.facts.items():
        if value is not None:
            shown = value.isoformat() if hasattr(value, "isoformat") else value
            console.print(Text(f"  {key}: {shown}", style="dim"))


@app.command("trace")
@handle_errors
def trace(ctx: typer.Context, run_ref: str = typer.Argument(..., help="Id or prefix."),
          user: str | None = USER, operator: bool = OPERATOR, json_out: bool = JSON) -> None:
    """Show a run's event flow (transitions and routed outputs), its errors and a timeline."""
    cli = ctx_of(ctx)
    owner = _owner(cli, user, operator, f"runs trace {run_ref}")
    view = runview.load(cli, _run_id(cli, run_ref, owner), owner)
    if json_out:
        print_json({"run_id": view.run.id, "state": view.run.state,
                    "events": [runview.event_dict(e) for e in view.events],
                    "errors": runview.errors_of(view),
                    "timeline": [runview.node_run_dict(n) for n in view.node_runs]})
    else:
        runview.print_trace(view)


def register(root: typer.Typer) -> None:
    """Add ``fleet runs`` to the root command."""
    root.add_typer(app, name="runs")
