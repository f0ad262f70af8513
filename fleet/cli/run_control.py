"""``fleet runs submit|cancel|approve|reject|complete-tool|list``: acting on runs."""

from __future__ import annotations

import json
import time
from typing import Any

import typer

from fleet.cli.context import console, ctx_of, handle_errors, print_json
from fleet.clock import utcnow
from fleet.errors import InvalidInput
from fleet.ports import RunSender
from fleet.runs import control
from fleet.runs.submit import submit
from fleet.store import runs as store
from fleet.store.models import ACTIVE_STATES, RunState

WAIT_STATES = frozenset({RunState.QUEUED.value, RunState.RUNNING.value})


def _sender(ctx: typer.Context) -> RunSender:
    # lazy: the broker client loads only for the commands that send
    from fleet.worker.wiring import run_sender

    return run_sender(ctx_of(ctx).settings)


def parse_inputs(pairs: list[str], json_text: str | None) -> dict[str, Any]:
    """``k=v`` pairs (values parsed as JSON when they are JSON) and/or a JSON object."""
    problems: list[str] = []
    inputs: dict[str, Any] = {}
    if json_text:
        try:
            loaded = json.loads(json_text)
        except json.JSONDecodeError as exc:
            problems.append(f"--inputs-json is not valid JSON: {exc}")
        else:
            if isinstance(loaded, dict):
                inputs.update(loaded)
            else:
                problems.append("--inputs-json must be a JSON object")
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            problems.append(f"--input '{pair}' is not of the form name=value")
            continue
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        inputs[key.strip()] = value
    if problems:
        raise InvalidInput("invalid inputs", problems)
    return inputs


def _run_dict(run: Any) -> dict[str, Any]:
    return {
        "id": run.id, "state": run.state, "user_id": run.user_id, "graph_id": run.graph_id,
        "graph_version": run.graph_version, "attempt_count": run.attempt_count,
        "max_attempts": run.max_attempts, "created_at": run.created_at,
        "started_at": run.started_at, "completed_at": run.completed_at,
        "error_code": run.error_code, "error_detail": run.error_detail,
        "cancel_requested": run.cancel_requested, "outputs": run.outputs,
        "runtime_id": run.runtime_id,
    }


def _show(run: Any, json_out: bool) -> None:
    if json_out:
        print_json(_run_dict(run))
    else:
        extra = f" ({run.error_code}: {run.error_detail})" if run.error_code else ""
        console.print(f"run [bold]{run.id}[/] {run.state}{extra}", highlight=False)


def add_commands(app: typer.Typer) -> None:
    """Add the acting commands to ``fleet runs``."""

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
        user: str = typer.Option("local", "--user", "-u", help="Who submits (the owner)."),
        wait: bool = typer.Option(False, "--wait", help="Wait until the run finishes "
                                  "or waits."),
        timeout: float = typer.Option(300.0, "--timeout", help="Seconds --wait waits."),
        json_out: bool = typer.Option(False, "--json"),
    ) -> None:
        """Submit a run: recorded as queued first, then sent to the workers."""
        c = ctx_of(ctx)
        inputs = parse_inputs(input_, inputs_json)
        from fleet.engine.blocks.registry import default_registry

        with c.session() as session:
            run = submit(session, graph_id=graph_id, version=version, inputs=inputs,
                         user_id=user, now=utcnow(), send=_sender(ctx),
                         registry=default_registry(), settings=c.settings)
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
        from rich.table import Table

        table = Table("id", "state", "graph", "user", "attempts", "created", "error")
        for r in rows:
            style = "yellow" if r.state in {s.value for s in ACTIVE_STATES} else None
            table.add_row(r.id, r.state, f"{r.graph_id} v{r.graph_version}", r.user_id,
                          f"{r.attempt_count}/{r.max_attempts}",
                          r.created_at.strftime("%Y-%m-%d %H:%M:%S"), r.error_code or "",
                          style=style)
        console.print(table)
