"""``fleet dev``: the embedded default, everything in one process."""

from __future__ import annotations

import typer
from rich.text import Text

from fleet.cli.context import console, ctx_of, handle_errors
from fleet.cli.db import prepare


def register(root: typer.Typer) -> None:
    """Add ``fleet dev`` to the root command."""

    @root.command("dev")
    @handle_errors
    def dev(ctx: typer.Context,
            for_: float | None = typer.Option(None, "--for", min=1,
                                              help="Stop after this many seconds."),
            threads: int | None = typer.Option(None, "--threads", min=1,
                                               help="Worker threads (FLEET_WORKER_THREADS).")
            ) -> None:
        """Workers and the periodic scheduler in one process: the embedded default.

        SQLite dev.sqlite and the in-memory broker unless configured otherwise. A
        missing dev.sqlite starts as a copy of dev.sqlite.example (as `fleet db upgrade`).
        """
        # lazy: the worker stack (dramatiq, periodiq) loads only for this command
        import actors
        import schedules
        from fleet.worker import dev as dev_mode

        cli = ctx_of(ctx)
        done = prepare(cli)
        if done.created:
            console.print(Text(done.line()))
        dev_mode.run(cli.settings, declare_actors=actors.declare,
                     declare_periodic=schedules.declare, seconds=for_, threads=threads,
                     echo=lambda line: console.print(Text(line)))
