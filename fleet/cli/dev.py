"""``fleet dev``: the embedded default, everything in one process."""

from __future__ import annotations

import logging

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
                                               help="Worker threads (FLEET_WORKER_THREADS)."),
            web: bool = typer.Option(True, "--web/--no-web",
                                     help="Serve the dashboard and API too (`fleet web`)."),
            web_port: int | None = typer.Option(None, "--web-port", min=1, max=65535,
                                                help="Port of the dashboard (FLEET_WEB_PORT).")
            ) -> None:
        """Workers, the scheduler and the dashboard in one process: the embedded default.

        SQLite dev.sqlite and the in-memory broker unless configured otherwise. A
        missing dev.sqlite starts as a copy of dev.sqlite.example (as `fleet db upgrade`).
        """
        # lazy: the worker stack (dramatiq, periodiq) loads only for this command
        import actors
        import schedules
        from fleet.worker import dev as dev_mode

        cli = ctx_of(ctx)
        # one human line per run start and end, whatever the log level
        settings = cli.settings.model_copy(update={"log_run_starts": True})
        activity = logging.getLogger("fleet.activity")
        if activity.getEffectiveLevel() > logging.INFO:
            activity.setLevel(logging.INFO)
        done = prepare(cli)  # first: the copy of the example with its schedules from now
        if done.created:
            console.print(Text(done.line()))

        def echo(line: str) -> None:
            console.print(Text(line))

        # The dashboard (issue 16): a web server thread started here and stopped at the end.
        server = None
        if web:
            from fleet.web.dev import start_dev_web  # lazy: FastAPI only when serving

            server = start_dev_web(settings, host=settings.web_host,
                                   port=web_port or settings.web_port, echo=echo)
        try:
            dev_mode.run(settings, declare_actors=actors.declare,
                         declare_periodic=schedules.declare, seconds=for_, threads=threads,
                         echo=echo)
        finally:
            if server is not None:
                server.stop()
