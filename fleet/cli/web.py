"""``fleet web``: the REST API, the dashboard and /metrics (uvicorn, one FastAPI app)."""

from __future__ import annotations

import typer

from fleet.cli.context import ctx_of, handle_errors


def register(root: typer.Typer) -> None:
    """Add ``fleet web`` to the root command."""

    @root.command("web")
    @handle_errors
    def web(ctx: typer.Context,
            host: str | None = typer.Option(None, "--host", help="Listen address "
                                            "(FLEET_WEB_HOST, default 127.0.0.1)."),
            port: int | None = typer.Option(None, "--port", min=1, max=65535,
                                            help="Port (FLEET_WEB_PORT, default 8080).")
            ) -> None:
        """Serve the API under /api/v1, the dashboard under /, /metrics, /healthz, /readyz."""
        # lazy: FastAPI and uvicorn load only for this command (`fleet --help` stays fast)
        from fleet.web.server import serve

        serve(ctx_of(ctx).settings, host, port)
