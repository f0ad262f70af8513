"""``fleet db``: create, upgrade and inspect the database.

``fleet db upgrade`` (and ``fleet dev``) are the only commands that create a
database. A SQLite database that does not exist yet starts as a copy of
``dev.sqlite.example`` when one is found (the demo graphs and schedule of
the user ``demo``), with its schedules restarted from now: the copy's
schedule was made when the example was built, and its instants since then
were never due for this database.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from fleet.cli.context import JSON, CliContext, console, ctx_of, handle_errors, print_json
from fleet.clock import utcnow
from fleet.engine.blocks.registry import default_registry
from fleet.redact import redact_url
from fleet.scheduling import service as schedules
from fleet.store import migrate
from fleet.store.diagnose import check_url, missing_sqlite, sqlite_file

log = logging.getLogger(__name__)

app = typer.Typer(help="Create, upgrade and inspect the database.", no_args_is_help=True)

EXAMPLE_NAME = "dev.sqlite.example"


@dataclass
class Prepared:
    """What ``prepare`` did to the configured database."""

    url: str
    revision: str | None
    created: bool
    copied_from: str | None
    schedules_restarted: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the URL without its password)."""
        return {"database": redact_url(self.url), "revision": self.revision,
                "created": self.created, "copied_from": self.copied_from,
                "schedules_restarted": self.schedules_restarted}

    def line(self) -> str:
        """One line saying what was done."""
        text = f"database {redact_url(self.url)} at revision {self.revision}"
        if self.copied_from:
            text += (f" (created from {self.copied_from}: the demo graphs and schedule of "
                     f"user 'demo'; {self.schedules_restarted} schedule(s) start from now)")
        elif self.created:
            text += " (created)"
        return text


def find_example() -> Path | None:
    """``dev.sqlite.example`` in the working directory or the source tree (as ``fleet dev``)."""
    # lazy: the worker stack (dramatiq) loads only for the commands that create a database
    from fleet.worker.dev import find_example as locate

    return locate()


def restart_schedules(cli: CliContext) -> int:
    """Restart every active schedule from its next instant after now; how many."""
    with cli.session() as session:
        return schedules.restart_all(session, utcnow(), settings=cli.settings,
                                     registry=default_registry())


def prepare(cli: CliContext, revision: str = "head", *, copy_example: bool = True) -> Prepared:
    """Create (from the example, for a new SQLite file) or upgrade the configured database."""
    url = cli.settings.database_url
    check_url(url)
    path = sqlite_file(url)
    created = missing_sqlite(url) is not None
    copied: Path | None = None
    if created and path is not None:
        example = find_example() if copy_example else None
        path.parent.mkdir(parents=True, exist_ok=True)
        if example is not None:
            shutil.copyfile(example, path)
            copied = example
    migrate.upgrade(url, revision)
    restarted = restart_schedules(cli) if copied is not None else 0
    current = migrate.current_revision(cli.engine)
    return Prepared(url, current, created, str(copied) if copied else None, restarted)


@app.command("upgrade")
@handle_errors
def upgrade(ctx: typer.Context,
            revision: str = typer.Option("head", help="Target revision."),
            empty: bool = typer.Option(False, "--empty", help="A new SQLite database starts "
                                       "empty instead of as a copy of dev.sqlite.example."),
            json_out: bool = JSON) -> None:
    """Create or upgrade the database named by FLEET_DATABASE_URL.

    A new SQLite file starts as a copy of dev.sqlite.example (the demo graphs),
    unless --empty.
    """
    done = prepare(ctx_of(ctx), revision, copy_example=not empty)
    if json_out:
        print_json(done.to_dict())
    else:
        console.print(Text(done.line()))


@app.command("status")
@handle_errors
def status(ctx: typer.Context, json_out: bool = JSON) -> None:
    """Show the database's revision and the newest one shipped (creates nothing)."""
    cli = ctx_of(ctx)
    url = cli.settings.database_url
    check_url(url)
    head = migrate.head_revision()
    current: str | None = None
    exists = missing_sqlite(url) is None
    if exists:
        current = migrate.current_revision(cli.engine)
    if json_out:
        print_json({"database": redact_url(url), "exists": exists, "current": current,
                    "head": head, "up_to_date": current == head})
    else:
        console.print(Text(f"database {redact_url(url)}: "
                           + (f"current {current or '(empty)'}, head {head}" if exists
                              else "does not exist")
                           + ("" if current == head else "  -> run `fleet db upgrade`")))


def register(root: typer.Typer) -> None:
    """Add ``fleet db`` to the root command."""
    root.add_typer(app, name="db")
