"""The root ``fleet`` command; each noun's module registers its commands here."""

from __future__ import annotations

import importlib
import logging
import os

import typer

from fleet.cli.context import CliContext

# One module per noun, each exposing register(app).
COMMAND_MODULES: tuple[str, ...] = (
    "fleet.cli.db",
    "fleet.cli.runs",
    "fleet.cli.graphs",
    "fleet.cli.runtimes",
    "fleet.cli.dev",
    "fleet.cli.alerts",
    "fleet.cli.notify",
    "fleet.cli.schedules",
    "fleet.cli.sweep",
    "fleet.cli.credentials",
    "fleet.cli.artifacts",
    "fleet.cli.search",
    "fleet.cli.tokens",
    "fleet.cli.web",
)


def build_app() -> typer.Typer:
    """Build the root command with every noun registered."""
    app = typer.Typer(help="fleet: graphs on a Dramatiq worker fleet, with schedules, "
                           "leases, sweeps and alerts.", no_args_is_help=True,
                      pretty_exceptions_enable=False)

    @app.callback()
    def _root(ctx: typer.Context,
              verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO.")) -> None:
        logging.basicConfig(level=logging.INFO if verbose else
                            os.environ.get("FLEET_LOG_LEVEL", "WARNING").upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if ctx.obj is None:
            ctx.obj = CliContext()

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(app)
    return app


def main() -> None:
    """Entry point of the ``fleet`` console script."""
    build_app()()
