"""``fleet db``: create, upgrade and inspect the database."""

from __future__ import annotations

import typer

from fleet.cli.context import console, ctx_of, handle_errors, print_json
from fleet.store import migrate
from fleet.store.db import make_engine

app = typer.Typer(help="Create, upgrade and inspect the database.", no_args_is_help=True)


@app.command("upgrade")
@handle_errors
def upgrade(ctx: typer.Context,
            revision: str = typer.Option("head", help="Target revision.")) -> None:
    """Create or upgrade the database named by FLEET_DATABASE_URL."""
    settings = ctx_of(ctx).settings
    migrate.upgrade(settings.database_url, revision)
    console.print(f"database at revision [bold]{migrate.head_revision()}[/]")


@app.command("status")
@handle_errors
def status(ctx: typer.Context, json_out: bool = typer.Option(False, "--json")) -> None:
    """Show the database's revision and the newest one shipped."""
    settings = ctx_of(ctx).settings
    engine = make_engine(settings.database_url)
    current = migrate.current_revision(engine)
    engine.dispose()
    head = migrate.head_revision()
    if json_out:
        print_json({"current": current, "head": head, "up_to_date": current == head})
    else:
        console.print(f"current: {current or '(empty)'}  head: {head}"
                      + ("" if current == head else "  -> run `fleet db upgrade`"))


def register(root: typer.Typer) -> None:
    """Add ``fleet db`` to the root command."""
    root.add_typer(app, name="db")
