"""What every CLI command shares: settings, the database, identity, output and errors.

Settings are built here, once per invocation, and passed down. This module is
imported by the root command, so it stays light: the settings, the database
stack and the tables load when a command first asks for them.

Identity: the acting user is ``--user``, else ``FLEET_USER``, else ``local``
(:meth:`CliContext.user`). Every command that reads or changes a user's object
acts as that user (another user's object answers "does not exist", exactly
like a missing one); ``--operator`` is the only way to act across users, and
each such command is logged with the acting identity (:meth:`CliContext.scope`).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from fleet.cli.errors import (
    ARGV_KEY,
    EXIT_USAGE,
    PASS_THROUGH,
    VERBOSE_KEY,
    exit_with,
    json_requested,
    print_error_json,
    print_error_text,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlmodel import Session

    from fleet.settings import Settings

__all__ = ["ARGV_KEY", "VERBOSE_KEY", "CliContext", "console", "ctx_of", "esc", "fail",
           "handle_errors", "keep_ids_whole", "print_json", "short_ids"]

P = ParamSpec("P")
T = TypeVar("T")

console = Console(highlight=False)
audit = logging.getLogger("fleet.cli.audit")

JSON = typer.Option(False, "--json", help="Machine-readable output (errors too).")
USER = typer.Option(None, "--user", "-u", help="Act as this user (default: FLEET_USER, "
                    "else 'local').")
OPERATOR = typer.Option(False, "--operator", help="Act as an operator across every user's "
                        "objects (logged with your identity).")
WIDE = typer.Option(False, "--wide", help="Full ids (tables show unique prefixes).")

esc = escape
"""Escape text from users and errors before Rich renders it (``[broken`` prints as is)."""


class CliContext:
    """Settings, a lazily-built engine and the acting identity of one CLI invocation."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._engine: Engine | None = None

    @property
    def settings(self) -> Settings:
        """The settings, built from the environment on first use (ConfigError if invalid)."""
        if self._settings is None:
            from fleet.settings import Settings, settings_problem  # lazy: start-up time

            try:
                self._settings = Settings()
            except Exception as exc:  # pydantic's errors, named per variable
                raise settings_problem(exc) from None
        return self._settings

    @property
    def database_url(self) -> str | None:
        """The configured database URL, if the settings could be built."""
        return self._settings.database_url if self._settings is not None else None

    @property
    def engine(self) -> Engine:
        """The engine on ``settings.database_url``; never creates a database.

        Refuses an unsupported URL and a SQLite file that does not exist
        (``fleet db upgrade`` creates it).
        """
        if self._engine is None:
            # lazy: start-up time (sqlalchemy and the drivers)
            from fleet.store.db import engine_for
            from fleet.store.diagnose import check_url, missing_sqlite

            settings = self.settings
            check_url(settings.database_url)
            missing = missing_sqlite(settings.database_url)
            if missing is not None:
                raise missing
            self._engine = engine_for(settings)
        return self._engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session on the configured database; driver errors become FleetErrors."""
        # lazy: start-up time (sqlalchemy)
        from sqlalchemy.exc import SQLAlchemyError
        from sqlmodel import Session

        # lazy: start-up time (the store)
        from fleet.store.diagnose import explain

        engine = self.engine
        try:
            with Session(engine, expire_on_commit=False) as s:
                yield s
        except SQLAlchemyError as exc:
            err = explain(exc, self.settings.database_url)
            if err is None:
                raise
            raise err from exc

    def user(self, explicit: str | None) -> str:
        """The acting user: ``--user``, else FLEET_USER, else ``local``."""
        return explicit or self.settings.user

    def scope(self, explicit: str | None, operator: bool, action: str) -> str | None:
        """The owner filter of a command: the acting user, or None for ``--operator``.

        An operator action is logged (WARNING, ``fleet.cli.audit``) with the acting
        identity and what it does.
        """
        who = self.user(explicit)
        if not operator:
            return who
        audit.warning("operator action by %s: %s", who, action)
        return None

    def close(self) -> None:
        """Dispose of the engine."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def ctx_of(typer_ctx: typer.Context) -> CliContext:
    """The CliContext stored on the root command."""
    root = typer_ctx.find_root()
    if not isinstance(root.obj, CliContext):
        root.obj = CliContext()
    return root.obj


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def print_json(data: Any) -> None:
    """Print machine-readable output on stdout."""
    sys.stdout.write(json.dumps(data, default=_default, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = EXIT_USAGE, problems: Iterable[str] = (),
         error_code: str = "E-INPUT-001") -> NoReturn:
    """Print an error (JSON with ``--json``) and exit with ``code``."""
    if json_requested():
        print_error_json(error_code, message, list(problems))
    else:
        print_error_text(message, list(problems), error_code)
    raise typer.Exit(code)


def handle_errors(fn: Callable[P, T]) -> Callable[P, T]:
    """Turn any exception into one message and an exit code (see :mod:`fleet.cli.errors`).

    The root command does the same for every command; this keeps a noun's
    commands right when its Typer app is invoked on its own.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except PASS_THROUGH:
            raise
        except Exception as exc:
            exit_with(exc)

    return wrapper


def keep_ids_whole(table: Any, shown: dict[str, str], column: int = 0) -> None:
    """Never wrap or cut the id column of ``table`` (other columns give way)."""
    col = table.columns[column]
    col.no_wrap = True
    col.min_width = max((len(v) for v in shown.values()), default=2)


def short_ids(ids: Iterable[str], wide: bool = False, minimum: int = 8) -> dict[str, str]:
    """Each id shortened to the shortest prefix (at least ``minimum``) unique among ``ids``."""
    unique = sorted(set(ids))
    if wide:
        return {i: i for i in unique}
    length = minimum
    while length < max((len(i) for i in unique), default=0):
        if len({i[:length] for i in unique}) == len(unique):
            break
        length += 2
    return {i: i[:length] for i in unique}
