"""Exit codes, and how every error reaches the user: one message, never a traceback.

| code | meaning |
|---|---|
| 0 | success; with ``--wait`` or ``runs watch``: the run completed |
| 1 | the run failed, timed out or was cancelled; or an unexpected error (``-v`` for details) |
| 2 | usage or input error: bad arguments, a missing or foreign object, bad settings, the
      database not initialised or unreachable |
| 3 | a wait ended before the run finished (the message says why: no worker online, queue
      position, its state) |

With ``--json`` an error is printed on stdout as
``{"error": {"code": "E-...", "message": "...", "problems": [...]}}``.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from typer import _click
from typer._click.exceptions import ClickException
from typer._click.globals import get_current_context

from fleet.errors import FleetError, InvalidInput, StoreNotReady

PASS_THROUGH: tuple[type[BaseException], ...] = (typer.Exit, typer.Abort, ClickException)
"""Exceptions the command-line machinery prints itself (exits, usage errors)."""

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_WAITED_OUT = 3

ARGV_KEY = "fleet.argv"
VERBOSE_KEY = "fleet.verbose"
UNEXPECTED_CODE = FleetError.code  # the root's code: an error fleet did not expect

log = logging.getLogger("fleet.cli")
err_console = Console(stderr=True, highlight=False)


def _root_meta(ctx: _click.Context | None = None) -> dict[str, Any]:
    ctx = ctx or get_current_context(silent=True)
    return ctx.meta if ctx is not None else {}


def json_requested(ctx: _click.Context | None = None) -> bool:
    """Whether the command line asks for ``--json`` (before any ``--``)."""
    argv: list[str] = _root_meta(ctx).get(ARGV_KEY, [])
    words = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in words


def verbose(ctx: _click.Context | None = None) -> bool:
    """Whether ``-v`` was given."""
    return bool(_root_meta(ctx).get(VERBOSE_KEY, False))


def print_error_json(code: str, message: str, problems: list[str]) -> None:
    """The error as one JSON object on stdout."""
    sys.stdout.write(json.dumps({"error": {"code": code, "message": message,
                                           "problems": problems}}, indent=2) + "\n")
    sys.stdout.flush()


def print_error_text(message: str, problems: list[str], code: str | None = None) -> None:
    """The error on stderr, its text printed as is (no markup is interpreted)."""
    line = Text("error: ", style="bold red")
    line.append(message)
    if code:
        line.append(f" [{code}]", style="dim")
    err_console.print(line)
    for problem in problems:
        err_console.print(Text(f"  - {problem}"))


def as_fleet_error(exc: BaseException, ctx: _click.Context | None = None) -> FleetError | None:
    """What ``exc`` means for the user as a FleetError, or None when it is unexpected.

    Settings that fail to parse and database driver errors (not initialised,
    unreachable, missing) are translated; anything else is unexpected.
    """
    if isinstance(exc, FleetError):
        return exc
    module = type(exc).__module__.split(".")[0]
    if module in {"pydantic", "pydantic_core", "pydantic_settings"}:
        from fleet.settings import settings_problem  # lazy: only when settings fail

        return settings_problem(exc)  # type: ignore[arg-type]
    if module == "alembic":  # a migration state this version cannot use
        return StoreNotReady(f"the database's migrations cannot be brought to this version of "
                             f"fleet ({str(exc).strip().splitlines()[0]}); is the database "
                             "newer than this fleet? Upgrade fleet, or point "
                             "FLEET_DATABASE_URL at another database")
    if module in {"sqlalchemy", "psycopg", "sqlite3"}:
        from fleet.store.diagnose import explain  # lazy: only when the database fails

        obj = ctx or get_current_context(silent=True)
        cli = obj.find_root().obj if obj is not None else None
        url = getattr(cli, "database_url", None)
        return explain(exc, url) if url else None
    return None


def exit_with(exc: BaseException, ctx: _click.Context | None = None) -> NoReturn:
    """Print ``exc`` as one message (JSON with ``--json``) and exit: 2 for a FleetError
    (input, settings, database), 1 for anything unexpected (``-v`` prints the traceback)."""
    err = as_fleet_error(exc, ctx)
    as_json = json_requested(ctx)
    if err is not None:
        problems = list(err.problems) if isinstance(err, InvalidInput) else []
        if as_json:
            print_error_json(err.code, err.message, problems)
        else:
            print_error_text(err.message, problems, err.code)
        log.debug("error", exc_info=exc)
        raise typer.Exit(EXIT_USAGE)
    text = str(exc).strip()
    summary = f"unexpected {type(exc).__name__}: {text.splitlines()[0] if text else '-'}"
    if verbose(ctx):
        err_console.print(Text("".join(traceback.format_exception(exc))))
        hint = "the traceback is above"
    else:
        hint = "run the command again with -v (fleet -v ...) to see the traceback"
    if as_json:
        print_error_json(UNEXPECTED_CODE, f"{summary}; {hint}", [])
    else:
        print_error_text(f"{summary}; {hint}", [])
    raise typer.Exit(EXIT_UNEXPECTED)
