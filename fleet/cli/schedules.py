"""``fleet schedules``: add, list, delete, pause, resume, run now, preview."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import typer
from rich.text import Text

from fleet.alerts.service import AlertService
from fleet.cli.context import (
    JSON,
    OPERATOR,
    USER,
    WIDE,
    CliContext,
    console,
    ctx_of,
    esc,
    handle_errors,
    print_json,
    short_ids,
)
from fleet.cli.ids import resolve
from fleet.cli.inputs import parse_credentials, parse_inputs
from fleet.clock import as_utc, utcnow
from fleet.engine.blocks.registry import default_registry
from fleet.errors import InvalidInput
from fleet.scheduling import service

app = typer.Typer(help="Cron schedules of graphs, in the user's timezone.", no_args_is_help=True)


def _parse_from(value: str | None) -> datetime:
    if value is None:
        return utcnow()
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError as exc:
        raise InvalidInput("invalid --from", [f"'{value}' is not an ISO date-time, e.g. "
                                              "2026-03-08T00:00:00-05:00"]) from exc


def _show(view: service.ScheduleView, shown_id: str | None = None) -> None:
    s = view.schedule
    state = (f"[yellow]paused[/]: {esc(s.paused_reason or '')}" if s.paused
             else "[green]active[/]")
    version = s.graph_version if s.graph_version is not None else "active"
    console.print(f"[bold]{esc(shown_id or s.id)}[/] {esc(s.name or '')}  "
                  f"user={esc(s.user_id)}  graph={esc(s.graph_id)}@{version}  {state}")
    console.print(Text(f"  {s.cron}  {s.timezone}: {view.description}"))
    console.print(Text(f"  overlap={s.overlap_policy} catch-up={s.catchup_policy} "
                       f"window={s.catchup_window_s:g}s inputs={json.dumps(s.input_data)}"))
    for f in view.next_fires:
        console.print(Text(f"  next: {f.local.isoformat()}  ({f.utc.isoformat()})"))


@app.command("add")
@handle_errors
def add(ctx: typer.Context,
        graph: str = typer.Option(..., "--graph", help="Graph id."),
        version: int | None = typer.Option(None, "--version",
                                           help="Pin a version (default: the active one)."),
        cron_expr: str = typer.Option(..., "--cron", help="Five-field cron expression."),
        tz: str = typer.Option("UTC", "--tz", help="IANA timezone, e.g. Europe/Paris."),
        inputs: list[str] = typer.Option([], "--input", "-i", help="Graph input NAME=VALUE "
                                          "(JSON values allowed); repeatable."),
        inputs_json: str | None = typer.Option(None, "--inputs-json", help="Inputs as one "
                                               "JSON object: inline, @FILE, or - for "
                                               "standard input."),
        name: str = typer.Option("", "--name", help="A name for the schedule."),
        overlap: str = typer.Option("skip", "--overlap",
                                    help="skip | allow | buffer_one | cancel_previous"),
        catchup: str = typer.Option("latest", "--catchup", help="latest | all | skip"),
        credential: list[str] = typer.Option([], "--credential", "-c", help="node.pin="
                                             "CREDENTIAL_ID for every run it fires "
                                             "(repeatable; ids only)."),
        user: str | None = USER, json_out: bool = JSON) -> None:
    """Add a schedule of one of your graphs; the graph and inputs are validated first."""
    cli = ctx_of(ctx)
    now = utcnow()
    with cli.session() as session:
        schedule = service.add(
            session, now, settings=cli.settings, registry=default_registry(),
            user_id=cli.user(user), graph_id=graph, cron_expr=cron_expr, timezone=tz,
            version=version, inputs=parse_inputs(inputs, inputs_json), name=name, overlap=overlap,
            catchup=catchup, credentials=parse_credentials(credential))
        view = service.view(schedule, now)
    if json_out:
        print_json(view.to_dict())
    else:
        console.print("added:")
        _show(view)


@app.command("list")
@handle_errors
def list_(ctx: typer.Context, user: str | None = USER, operator: bool = OPERATOR,
          limit: int = typer.Option(200, "--limit", min=1, max=500), wide: bool = WIDE,
          json_out: bool = JSON) -> None:
    """Your schedules (every user's with --operator), with their next 3 fire times in their
    own timezone."""
    cli = ctx_of(ctx)
    owner = cli.scope(user, operator, "schedules list")
    with cli.session() as session:
        views = service.list_schedules(session, utcnow(), user_id=owner, limit=limit)
    if json_out:
        print_json([v.to_dict() for v in views])
        return
    if not views:
        console.print(Text("no schedules" + (f" for user '{owner}'" if owner else "")))
    ids = short_ids([v.schedule.id for v in views], wide)
    for v in views:
        _show(v, ids[v.schedule.id])


@app.command("show")
@handle_errors
def show(ctx: typer.Context, schedule_id: str = typer.Argument(..., help="Id or prefix."),
         count: int = typer.Option(5, "--count", min=0, max=100, help="Next fire times."),
         user: str | None = USER, operator: bool = OPERATOR, json_out: bool = JSON) -> None:
    """One schedule with its next fire times."""
    cli = ctx_of(ctx)
    owner = cli.scope(user, operator, f"schedules show {schedule_id}")
    now = utcnow()
    with cli.session() as session:
        full = resolve(session, "schedule", schedule_id, owner)
        view = service.view(service.get_owned(session, full, owner), now, count)
        session.commit()
    if json_out:
        print_json(view.to_dict())
    else:
        _show(view)


@app.command("preview")
@handle_errors
def preview(expr: str = typer.Argument(..., help="Cron expression, e.g. '30 2 * * *'."),
            tz: str = typer.Option("UTC", "--tz", help="IANA timezone."),
            start: str | None = typer.Option(None, "--from",
                                             help="ISO date-time to start from (default now)."),
            count: int = typer.Option(5, "--count", help="How many fire times."),
            json_out: bool = typer.Option(False, "--json")) -> None:
    """The next fire times of an expression, in the zone and in UTC (what the dispatcher fires)."""
    result = service.preview(expr, tz, _parse_from(start), count)
    if json_out:
        print_json(result.to_dict())
        return
    console.print(Text(f"{result.cron}  {result.timezone}: {result.description}"))
    for f in result.fires:
        console.print(Text(f"  {f.local.isoformat()}  ({f.utc.isoformat()})"))


def _alerts(cli: CliContext) -> AlertService:
    return AlertService.from_settings(cli.settings)


def _owner_action(ctx: typer.Context, verb: str, ref: str, user: str | None, operator: bool,
                  json_out: bool) -> None:
    cli = ctx_of(ctx)
    now = utcnow()
    owner = cli.scope(user, operator, f"schedules {verb} {ref}")
    with cli.session() as session:
        schedule_id = resolve(session, "schedule", ref, owner)
        result: dict[str, Any]
        if verb == "delete":
            service.delete(session, schedule_id, owner, now, alerts=_alerts(cli))
            result = {"id": schedule_id, "deleted": True}
        elif verb == "pause":
            result = service.view(service.pause(session, schedule_id, owner, now),
                                  now).to_dict()
        elif verb == "resume":
            result = service.view(service.resume(session, schedule_id, owner, now,
                                                 settings=cli.settings,
                                                 registry=default_registry(),
                                                 alerts=_alerts(cli)), now).to_dict()
        else:
            # lazy: the broker client loads only for the command that sends
            from fleet.worker.wiring import run_sender

            run_id = service.run_now(session, schedule_id, owner, now, settings=cli.settings,
                                     registry=default_registry(),
                                     send=run_sender(cli.settings))
            result = {"id": schedule_id, "run_id": run_id}
    if json_out:
        print_json(result)
    elif verb == "run-now":
        console.print(Text(f"schedule {schedule_id}: run {result['run_id']} queued"))
    else:
        console.print(Text(f"schedule {schedule_id}: {verb}d" if verb != "resume"
                           else f"schedule {schedule_id}: resumed, next fire "
                                f"{(result['next_fires'] or [{'local': '-'}])[0]['local']}"))


@app.command("delete")
@handle_errors
def delete(ctx: typer.Context, schedule_id: str = typer.Argument(..., help="Id or prefix."),
           user: str | None = USER, operator: bool = OPERATOR,
           json_out: bool = JSON) -> None:
    """Delete a schedule."""
    _owner_action(ctx, "delete", schedule_id, user, operator, json_out)


@app.command("pause")
@handle_errors
def pause(ctx: typer.Context, schedule_id: str = typer.Argument(..., help="Id or prefix."),
          user: str | None = USER, operator: bool = OPERATOR,
          json_out: bool = JSON) -> None:
    """Pause a schedule: it fires nothing until resumed."""
    _owner_action(ctx, "pause", schedule_id, user, operator, json_out)


@app.command("resume")
@handle_errors
def resume(ctx: typer.Context, schedule_id: str = typer.Argument(..., help="Id or prefix."),
           user: str | None = USER, operator: bool = OPERATOR,
           json_out: bool = JSON) -> None:
    """Resume a paused schedule from its next fire time (missed instants are not caught up)."""
    _owner_action(ctx, "resume", schedule_id, user, operator, json_out)


@app.command("run-now")
@handle_errors
def run_now(ctx: typer.Context, schedule_id: str = typer.Argument(..., help="Id or prefix."),
            user: str | None = USER, operator: bool = OPERATOR,
            json_out: bool = JSON) -> None:
    """Queue a run of the schedule's graph now, with its inputs."""
    _owner_action(ctx, "run-now", schedule_id, user, operator, json_out)


def register(root: typer.Typer) -> None:
    """Add ``fleet schedules`` to the root command."""
    root.add_typer(app, name="schedules")
