"""``fleet sweep NAME``: run one system job by hand; ``fleet sweep --list`` names them."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Table
from rich.text import Text

from fleet.cli.context import CliContext, console, ctx_of, fail, handle_errors, print_json
from fleet.errors import NotFound
from fleet.store import jobs as jobs_store
from fleet.sweeps import registry


@handle_errors
def sweep(ctx: typer.Context,
          name: str = typer.Argument(None, help="The job to run (see --list)."),
          list_: bool = typer.Option(False, "--list", help="Name every system job."),
          json_out: bool = typer.Option(False, "--json", help="Print the report as JSON.")
          ) -> None:
    """Run a system job (dispatcher, reaper, monitors, clean-ups) once and print its report."""
    if list_:
        _list(ctx_of(ctx), json_out)
        return
    if not name:
        fail("name a job to run, or use --list to see them")
    # lazy: the worker stack (dramatiq, redis) loads only when a job runs
    from fleet.worker.jobs import run_sweep
    from fleet.worker.wiring import job_context

    cli = ctx_of(ctx)
    try:
        registry.get(name)
    except NotFound as exc:
        fail(f"{exc.message} [{exc.code}]")
    report = run_sweep(name, job_context(cli.settings), cli.engine)
    if json_out:
        print_json(report.to_dict())
    else:
        console.print(Text(report.summary()))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "never"


def _list(cli: CliContext, json_out: bool) -> None:
    """Every system job: cadence, and its last start, end, outcome and duration."""
    specs = registry.all_sweeps()
    with cli.session() as session:
        last = jobs_store.all_jobs(session)
    rows = []
    for s in specs.values():
        job = last.get(s.name)
        rows.append({
            "name": s.name, "description": s.description,
            "cron": getattr(cli.settings, s.cron_setting),
            "last_started_at": job.last_started_at if job else None,
            "last_finished_at": job.last_finished_at if job else None,
            "last_outcome": job.last_outcome if job else None,
            "last_duration_s": job.last_duration_s if job else None,
            "last_success_at": job.last_success_at if job else None,
            "last_error": job.last_error if job else None,
            "runs": job.runs_total if job else 0, "errors": job.errors_total if job else 0,
            "skipped": job.skipped_total if job else 0,
        })
    if json_out:
        print_json(rows)
        return
    table = Table("job", "cron (UTC)", "last start", "outcome", "took", "runs/errors/skips",
                  "what it does")
    for r in rows:
        took = f"{r['last_duration_s']:.2f}s" if r["last_duration_s"] is not None else ""
        table.add_row(str(r["name"]), Text(str(r["cron"])), _when(r["last_started_at"]),
                      Text(str(r["last_outcome"] or "")), took,
                      f"{r['runs']}/{r['errors']}/{r['skipped']}", Text(str(r["description"])))
    console.print(table)


def register(root: typer.Typer) -> None:
    """Add ``fleet sweep`` to the root command."""
    root.command("sweep")(sweep)
