"""``fleet search QUERY``: your graphs, the blocks and the documentation, best first."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from fleet.cli.context import console, ctx_of, handle_errors, print_json
from fleet.clock import utcnow
from fleet.search.service import search as run_search


@handle_errors
def search(ctx: typer.Context,
           query: str = typer.Argument(..., help="Words to look for (all must match)."),
           kind: str | None = typer.Option(None, "--kind", help="graph | block | doc"),
           limit: int = typer.Option(10, "--limit", min=1, max=100),
           user: str | None = typer.Option(None, "--user", "-u",
                                           help="Whose graphs (default: FLEET_USER)."),
           json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")
           ) -> None:
    """Search graphs (name, description, blocks used), blocks and documentation pages."""
    cli = ctx_of(ctx)
    with cli.session() as session:
        hits = run_search(session, utcnow(), settings=cli.settings, user_id=cli.user(user),
                          query=query, kind=kind, limit=limit)
    if json_out:
        print_json([h.to_dict() for h in hits])
        return
    if not hits:
        console.print("no matches (the index is filled by `fleet sweep search_coverage`)")
        return
    table = Table("kind", "id", "title", "excerpt", "score")
    for h in hits:
        table.add_row(h.kind, Text(h.id), Text(h.title), Text(h.snippet), f"{h.score:.3f}")
    console.print(table)


def register(root: typer.Typer) -> None:
    """Add ``fleet search`` to the root command."""
    root.command("search")(search)
