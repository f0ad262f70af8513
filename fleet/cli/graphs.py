"""``fleet graphs``: validate, add, list, show and delete graphs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from fleet.cli.context import console, ctx_of, handle_errors, print_json
from fleet.clock import utcnow
from fleet.engine.blocks.registry import default_registry
from fleet.engine.validate import validate_graph
from fleet.graphs import service
from fleet.graphs.files import load_graph_file
from fleet.store import graphs as store
from fleet.store.models import Graph

app = typer.Typer(help="Validate, add, list, show and delete graphs.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Machine-readable output.")
USER = typer.Option(None, "--user", "-u", help="Act as this user (default: FLEET_USER).")


def _graph_dict(g: Graph, *, definition: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": g.id, "version": g.version, "user_id": g.user_id, "name": g.name,
        "description": g.description, "timeout_s": g.timeout_s, "max_attempts": g.max_attempts,
        "is_active": g.is_active, "is_archived": g.is_archived,
        "nodes": len(g.definition.get("nodes", [])), "links": len(g.definition.get("links", [])),
        "created_at": g.created_at, "updated_at": g.updated_at,
    }
    if definition:
        d["definition"] = g.definition
    return d


@app.command("validate")
@handle_errors
def validate(file: Path = typer.Argument(..., help="A JSON or YAML graph file."),
             json_out: bool = JSON) -> None:
    """Check a graph file; every problem is listed with its node and pin."""
    definition = load_graph_file(file)
    validate_graph(definition, default_registry())
    if json_out:
        print_json({"valid": True, "id": definition.get("id"), "problems": []})
    else:
        console.print(f"[green]valid[/]: graph {definition.get('id')} "
                      f"({len(definition.get('nodes', []))} nodes)")


@app.command("add")
@handle_errors
def add(ctx: typer.Context, file: Path = typer.Argument(..., help="A JSON or YAML graph file."),
        user: str | None = USER, json_out: bool = JSON) -> None:
    """Validate and store a graph; a changed graph under the same id gets a new version."""
    cli = ctx_of(ctx)
    definition = load_graph_file(file)
    with cli.session() as session:
        owner = cli.user(user)
        before = service.latest_version(session, owner, str(definition.get("id") or ""))
        graph = service.add_graph(session, definition, owner, utcnow(), default_registry(),
                                  settings=cli.settings)
    created = graph.version != before
    if json_out:
        print_json({**_graph_dict(graph), "created": created})
    else:
        verb = "added" if created else "unchanged"
        console.print(f"graph [bold]{graph.id}[/] version {graph.version} {verb}")


@app.command("list")
@handle_errors
def list_(ctx: typer.Context, user: str | None = typer.Option(None, "--user", "-u"),
          archived: bool = typer.Option(False, "--archived", help="Include archived graphs."),
          limit: int = typer.Option(200, min=1, max=500), json_out: bool = JSON) -> None:
    """List graphs (their active versions)."""
    with ctx_of(ctx).session() as session:
        graphs = store.list_graphs(session, user_id=user, include_archived=archived, limit=limit)
    if json_out:
        print_json([_graph_dict(g) for g in graphs])
        return
    table = Table(title=f"graphs ({len(graphs)})")
    for col in ("id", "version", "name", "owner", "nodes", "archived", "updated"):
        table.add_column(col)
    for g in graphs:
        table.add_row(g.id, str(g.version), g.name, g.user_id,
                      str(len(g.definition.get("nodes", []))), "yes" if g.is_archived else "",
                      g.updated_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@app.command("show")
@handle_errors
def show(ctx: typer.Context, graph_id: str = typer.Argument(...),
         version: int | None = typer.Option(None, "--version", help="Default: the active one."),
         user: str | None = USER, json_out: bool = JSON) -> None:
    """Show one graph version: its nodes and links."""
    cli = ctx_of(ctx)
    owner = cli.user(user)
    with cli.session() as session:
        graph = service.get(session, owner, graph_id, version)
        versions = [v.version for v in store.versions(session, owner, graph_id)]
    if json_out:
        print_json({**_graph_dict(graph, definition=True), "versions": versions})
        return
    console.print(f"[bold]{graph.id}[/] v{graph.version} ({graph.name}) owner {graph.user_id}, "
                  f"timeout {graph.timeout_s:g}s, max attempts {graph.max_attempts}, "
                  f"versions {versions}")
    if graph.description:
        console.print(graph.description)
    nodes = Table(title="nodes")
    for col in ("id", "block", "static inputs"):
        nodes.add_column(col)
    for n in graph.definition.get("nodes", []):
        nodes.add_row(str(n.get("id")), str(n.get("block")),
                      ", ".join(f"{k}={v!r:.40}" for k, v in (n.get("inputs") or {}).items()))
    console.print(nodes)
    links = Table(title="links")
    links.add_column("source")
    links.add_column("sink")
    for lk in graph.definition.get("links", []):
        links.add_row(str(lk.get("source")), str(lk.get("sink")))
    console.print(links)


@app.command("delete")
@handle_errors
def delete(ctx: typer.Context, graph_id: str = typer.Argument(...), user: str | None = USER,
           json_out: bool = JSON) -> None:
    """Delete every version of a graph (and its schedules); only its owner may."""
    cli = ctx_of(ctx)
    with cli.session() as session:
        count = service.delete_graph(session, cli.user(user), graph_id, utcnow())
    if json_out:
        print_json({"id": graph_id, "deleted_versions": count})
    else:
        console.print(f"graph {graph_id} deleted ({count} version{'s' if count != 1 else ''})")


@app.command("archive")
@handle_errors
def archive(ctx: typer.Context, graph_id: str = typer.Argument(...), user: str | None = USER,
            json_out: bool = JSON) -> None:
    """Archive a graph: it can no longer run, and its schedules are removed."""
    cli = ctx_of(ctx)
    with cli.session() as session:
        count = service.archive_graph(session, cli.user(user), graph_id, utcnow())
    if json_out:
        print_json({"id": graph_id, "archived_versions": count})
    else:
        console.print(f"graph {graph_id} archived; its schedules were removed")


def register(root: typer.Typer) -> None:
    """Add ``fleet graphs`` to the root command."""
    root.add_typer(app, name="graphs")
