"""``fleet sweep NAME``: run one system job by hand; ``fleet sweep --list`` names them."""

from __future__ import annotations

import typer

from fleet.cli.context import console, ctx_of, fail, handle_errors, print_json
from fleet.errors import NotFound
from fleet.sweeps import registry


@handle_errors
def sweep(ctx: typer.Context,
          name: str = typer.Argument(None, help="The job to run (see --list)."),
          list_: bool = typer.Option(False, "--list", help="Name every system job."),
          json_out: bool = typer.Option(False, "--json", help="Print the report as JSON.")
          ) -> None:
    """Run a system job (dispatcher, reaper, monitors, clean-ups) once and print its report."""
    if list_:
        specs = registry.all_sweeps()
        settings = ctx_of(ctx).settings
        if json_out:
            print_json([{"name": s.name, "description": s.description,
                         "cron": getattr(settings, s.cron_setting)} for s in specs.values()])
        else:
            for s in specs.values():
                console.print(f"[bold]{s.name:<20}[/] {getattr(settings, s.cron_setting):<14} "
                              f"{s.description}", highlight=False)
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
        console.print(report.summary(), highlight=False)


def register(root: typer.Typer) -> None:
    """Add ``fleet sweep`` to the root command."""
    root.command("sweep")(sweep)
