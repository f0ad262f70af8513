"""The root ``fleet`` command: nouns loaded on demand, ``--version``, and the error boundary.

Each noun lives in its own module exposing ``register(root)``. The root lists
the nouns of :data:`COMMANDS` with their one-line help and imports a noun's
module only when that noun runs (or is completed past), so ``fleet --help``
loads neither the database stack nor the engine. :data:`COMMAND_MODULES` are
registered eagerly (for a module that must be; prefer :data:`COMMANDS`).

Every exception ends here as one message and an exit code
(:mod:`fleet.cli.errors`), never as a traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import Any

import typer
from typer import _click
from typer._click.exceptions import UsageError
from typer.core import TyperCommand, TyperGroup

from fleet.cli import errors
from fleet.cli.context import ARGV_KEY, VERBOSE_KEY, CliContext
from fleet.errors import ConfigError
from fleet.errors import UsageError as FleetUsageError

# Noun -> (module exposing register(root), one-line help shown by `fleet --help`).
# tests/unit/cli/test_main.py checks that each module registers that noun with that help.
COMMANDS: dict[str, tuple[str, str]] = {
    "db": ("fleet.cli.db", "Create, upgrade and inspect the database."),
    "graphs": ("fleet.cli.graphs", "Validate, add, list, show and delete graphs."),
    "blocks": ("fleet.cli.blocks", "The blocks a graph can use: pins, types, defaults."),
    "runs": ("fleet.cli.runs", "Submit, watch, inspect, retry and act on runs."),
    "schedules": ("fleet.cli.schedules", "Cron schedules of graphs, in the user's timezone."),
    "runtimes": ("fleet.cli.runtimes", "Worker processes (runtimes) and their heartbeats."),
    "alerts": ("fleet.cli.alerts", "List alerts and test alert destinations."),
    "notify": ("fleet.cli.notify", "Per-user notification settings."),
    "credentials": ("fleet.cli.credentials", "Credentials for the blocks that call other "
                                             "services (encrypted at rest with "
                                             "FLEET_SECRET_KEY)."),
    "artifacts": ("fleet.cli.artifacts", "Files for runs' inputs and written by blocks, kept "
                                         "until they expire."),
    "search": ("fleet.cli.search", "Search graphs (name, description, blocks used), blocks "
                                   "and documentation pages."),
    "sweep": ("fleet.cli.sweep", "Run a system job (dispatcher, reaper, monitors, clean-ups) "
                                 "once and print its report."),
    "dev": ("fleet.cli.dev", "Workers, the scheduler and the dashboard in one process: the "
                             "embedded default."),
    "tokens": ("fleet.cli.tokens", "API tokens of the web API and dashboard (roles: viewer, "
                                   "operator, admin)."),
    "web": ("fleet.cli.web", "Serve the API under /api/v1, the dashboard under /, /metrics, "
                             "/healthz, /readyz."),
}

# Modules registered at start-up, each exposing register(root): only for a module that
# cannot be loaded on demand (it costs every command its import time).
COMMAND_MODULES: tuple[str, ...] = ()


def load_noun(name: str) -> _click.Command:
    """Import the module of noun ``name`` and build its command."""
    module, _ = COMMANDS[name]
    scratch = typer.Typer()
    importlib.import_module(module).register(scratch)
    built = typer.main.get_command(scratch)
    if isinstance(built, TyperGroup) and name in built.commands:
        return built.commands[name]
    built.name = name
    return built


class LazyGroup(TyperGroup):
    """The root group: nouns load on first use; every error becomes a message and a code."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = 0
        for name, (_, short) in COMMANDS.items():
            self.commands.setdefault(name, _Stub(name=name, help=short, short_help=short))

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        """The noun's command, loading its module unless only its name and help are needed."""
        cmd = self.commands.get(cmd_name)
        if isinstance(cmd, _Stub) and not self._listing:
            cmd = self.commands[cmd_name] = load_noun(cmd_name)
        return cmd

    def _listed(self, fn: Callable[[], Any]) -> Any:
        self._listing += 1
        try:
            return fn()
        finally:
            self._listing -= 1

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        """The root's help: nouns with their one-line help, none of them imported."""
        self._listed(lambda: super(LazyGroup, self).format_help(ctx, formatter))

    def shell_complete(self, ctx: _click.Context, incomplete: str) -> list[Any]:
        """Complete noun names without importing them (completing past a noun loads it)."""
        result: list[Any] = self._listed(
            lambda: super(LazyGroup, self).shell_complete(ctx, incomplete))
        return result

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        """Keep the whole command line: errors are printed as JSON when it asks for ``--json``."""
        ctx.meta[ARGV_KEY] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: _click.Context) -> Any:
        """Run the command; any exception becomes one message and an exit code."""
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            if errors.json_requested(ctx):
                errors.print_error_json(FleetUsageError.code, exc.format_message(), [])
                raise typer.Exit(errors.EXIT_USAGE) from None
            raise
        except errors.PASS_THROUGH:
            raise
        except Exception as exc:  # the boundary: nothing reaches the user as a traceback
            errors.exit_with(exc, ctx)


class _Stub(TyperCommand):
    """A noun not imported yet: its name and one-line help, for listings and completion."""


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version  # lazy: --version only

        try:
            text = version("fleet")
        except PackageNotFoundError:
            text = "unknown (not installed)"
        typer.echo(f"fleet {text}")
        raise typer.Exit(0)


def build_app() -> typer.Typer:
    """Build the root command (nouns are loaded when used)."""
    app = typer.Typer(cls=LazyGroup, help="fleet: graphs on a Dramatiq worker fleet, with "
                      "schedules, leases, sweeps and alerts. Exit codes: 0 success, 1 the run "
                      "failed, timed out or was cancelled (or an unexpected error), 2 usage or "
                      "input error, 3 a wait ended before the run finished.",
                      no_args_is_help=True, pretty_exceptions_enable=False)

    @app.callback()
    def _root(ctx: typer.Context,
              verbose: bool = typer.Option(False, "--verbose", "-v",
                                           help="Log at INFO; unexpected errors print their "
                                                "traceback."),
              _show_version: bool = typer.Option(False, "--version", callback=_version,
                                                 is_eager=True,
                                                 help="Print fleet's version and exit.")
              ) -> None:
        level = os.environ.get("FLEET_LOG_LEVEL", "WARNING").upper()
        if level not in logging.getLevelNamesMapping():
            raise ConfigError(f"FLEET_LOG_LEVEL = {level!r} is not a log level; use DEBUG, "
                              "INFO, WARNING or ERROR")
        logging.basicConfig(level=logging.INFO if verbose else level,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        ctx.meta[VERBOSE_KEY] = verbose
        if ctx.obj is None:
            ctx.obj = CliContext()

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(app)
    return app


def main() -> None:
    """Entry point of the ``fleet`` console script."""
    build_app()()
