"""What every CLI command shares: settings, the database, output and errors.

Settings are built here, once per invocation, and passed down.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import Engine
from sqlmodel import Session

from fleet.errors import FleetError, InvalidInput
from fleet.settings import Settings
from fleet.store.db import engine_for

P = ParamSpec("P")
T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


class CliContext:
    """Settings and a lazily-built engine for one CLI invocation."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._engine: Engine | None = None

    @property
    def settings(self) -> Settings:
        """The settings, built from the environment on first use."""
        if self._settings is None:
            self._settings = Settings()
        return self._settings

    @property
    def engine(self) -> Engine:
        """The engine on ``settings.database_url``."""
        if self._engine is None:
            self._engine = engine_for(self.settings)
        return self._engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session on the configured database."""
        with Session(self.engine, expire_on_commit=False) as s:
            yield s

    def user(self, explicit: str | None) -> str:
        """The acting user: ``--user``, else FLEET_USER, else ``local``."""
        return explicit or self.settings.user

    def close(self) -> None:
        """Dispose of the engine."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def ctx_of(typer_ctx: typer.Context) -> CliContext:
    """The CliContext stored on the root command."""
    obj = typer_ctx.find_root().obj
    if not isinstance(obj, CliContext):
        obj = CliContext()
        typer_ctx.find_root().obj = obj
    return obj


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


def fail(message: str, code: int = 2) -> None:
    """Print an error on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def handle_errors(fn: Callable[P, T]) -> Callable[P, T]:
    """Turn FleetError (and settings errors) into a clear message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except InvalidInput as exc:
            lines = [exc.message, *(f"  - {p}" for p in exc.problems)]
            fail("\n".join(lines))
        except FleetError as exc:
            fail(f"{exc.message} [{exc.code}]")
        except ValidationError as exc:
            fail(f"invalid settings: {exc}")
        raise AssertionError("unreachable")

    return wrapper
