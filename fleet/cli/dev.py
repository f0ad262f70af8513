"""``fleet dev``: the embedded default, everything in one process."""

from __future__ import annotations

import typer

from fleet.cli.context import console, ctx_of, handle_errors


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
        """Run workers and the periodic scheduler in one process on SQLite dev.sqlite."""
        # lazy: the worker stack (dramatiq, periodiq) loads only for this command
        import actors
        import schedules
        from fleet.worker import dev as dev_mode

        dev_mode.run(ctx_of(ctx).settings, declare_actors=actors.declare,
                     declare_periodic=schedules.declare, seconds=for_, threads=threads,
                     echo=lambda line: console.print(line, highlight=False, markup=False))
