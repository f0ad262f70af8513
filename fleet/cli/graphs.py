"""``fleet graphs``: validate, add, list, show, archive and delete graphs.

Graph ids are per owner: every command acts on the acting user's graph of
that id. ``--operator`` finds the graph among every user's (refused, naming
the owners, when several users have a graph with that id).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text
from sqlmodel import Session

from fleet.cli.context import (
    JSON,
    OPERATOR,
    USER,
    CliContext,
    console,
    ctx_of,
    handle_errors,
    print_json,
)
from fleet.clock import utcnow
from fleet.engine.blocks.registry import default_registry
from fleet.engine.validate import validate_graph
from fleet.errors import Ambiguous, NotFound
from fleet.graphs import service
from fleet.graphs.files import load_graph_file
from fleet.store import graphs as store
from fleet.store import lookup
from fleet.store.models import Graph

app = typer.Typer(help="Validate, add, list, show and delete graphs.", no_args_is_help=True)


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


def owner_of(session: Session, cli: CliContext, graph_id: str, user: str | None,
             operator: bool, action: str) -> str:
    """Whose graph ``graph_id`` the command acts on: the acting user's, or (``--operator``)
    the one user who has a graph with that id."""
    scope = cli.scope(user, operator, action)
    if scope is not None:
        return scope
    owners = lookup.graph_owners(session, graph_id)
    session.commit()
    if not owners:
        raise NotFound(f"graph {graph_id} does not exist; see `fleet graphs list --operator`")
    if len(owners) > 1:
        raise Ambiguous(f"several users have a graph '{graph_id}'; act as its owner with "
                        "--user OWNER (without --operator)",
                        [f"owner {o}" for o in owners])
    return owners[0]


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
        line = Text("valid", style="green")
        line.append(f": graph {definition.get('id')} ({len(definition.get('nodes', []))} nodes)")
        console.print(line)


@app.command("add")
@handle_errors
def add(ctx: typer.Context, file: Path = typer.Argument(..., help="A JSON or YAML graph file."),
        user: str | None = USER, json_out: bool = JSON) -> None:
    """Validate and store a graph as yours; a changed graph under the same id gets a new
    version."""
    cli = ctx_of(ctx)
    definition = load_graph_file(file)
    owner = cli.user(user)
    with cli.session() as session:
        before = service.latest_version(session, owner, str(definition.get("id") or ""))
        graph = service.add_graph(session, definition, owner, utcnow(), default_registry(),
                                  settings=cli.settings)
    created = graph.version != before
    if json_out:
        print_json({**_graph_dict(graph), "created": created})
    else:
        verb = "added" if created else "unchanged"
        line = Text("graph ")
        line.append(graph.id, style="bold")
        line.append(f" version {graph.version} {verb} (owner {graph.user_id})")
        console.print(line)


@app.command("list")
@handle_errors
def list_(ctx: typer.Context, user: str | None = USER, operator: bool = OPERATOR,
          archived: bool = typer.Option(False, "--archived", help="Include archived graphs."),
          limit: int = typer.Option(200, min=1, max=500), json_out: bool = JSON) -> None:
    """Your graphs (every user's with --operator), their active versions."""
    cli = ctx_of(ctx)
    owner = cli.scope(user, operator, "graphs list")
    with cli.session() as session:
        graphs = store.list_graphs(session, user_id=owner, include_archived=archived,
                                   limit=limit)
    if json_out:
        print_json([_graph_dict(g) for g in graphs])
        return
    if not graphs:
        console.print(Text("no graphs" + (f" for user '{owner}'" if owner else "")
                           + "; add one with `fleet graphs add FILE`"))
        return
    table = Table(title=f"graphs ({len(graphs)})")
    for col in ("id", "version", "name", "owner", "nodes", "archived", "updated"):
        table.add_column(col)
    for g in graphs:
        table.add_row(Text(g.id), str(g.version), Text(g.name), Text(g.user_id),
                      str(len(g.definition.get("nodes", []))), "yes" if g.is_archived else "",
                      g.updated_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@app.command("show")
@handle_errors
def show(ctx: typer.Context, graph_id: str = typer.Argument(...),
         version: int | None = typer.Option(None, "--version", help="Default: the active one."),
         user: str | None = USER, operator: bool = OPERATOR, json_out: bool = JSON) -> None:
    """Show one graph version: its nodes and links."""
    cli = ctx_of(ctx)
    with cli.session() as session:
        owner = owner_of(session, cli, graph_id, user, operator, f"graphs show {graph_id}")
        graph = service.get(session, owner, graph_id, version)
        versions = [v.version for v in store.versions(session, owner, graph_id)]
    if json_out:
        print_json({**_graph_dict(graph, definition=True), "versions": versions})
        return
    head = Text(graph.id, style="bold")
    head.append(f" v{graph.version} ({graph.name}) owner {graph.user_id}, timeout "
                f"{graph.timeout_s:g}s, max attempts {graph.max_attempts}, versions {versions}")
    console.print(head)
    if graph.description:
        console.print(Text(graph.description))
    nodes = Table(title="nodes")
    for col in ("id", "block", "static inputs"):
        nodes.add_column(col)
    for n in graph.definition.get("nodes", []):
        nodes.add_row(Text(str(n.get("id"))), Text(str(n.get("block"))),
                      Text(", ".join(f"{k}={v!r:.40}"
                                     for k, v in (n.get("inputs") or {}).items())))
    console.print(nodes)
    links = Table(title="links")
    links.add_column("source")
    links.add_column("sink")
    for lk in graph.definition.get("links", []):
        links.add_row(Text(str(lk.get("source"))), Text(str(lk.get("sink"))))
    console.print(links)


@app.command("delete")
@handle_errors
def delete(ctx: typer.Context, graph_id: str = typer.Argument(...), user: str | None = USER,
           operator: bool = OPERATOR, json_out: bool = JSON) -> None:
    """Delete every version of a graph (and its schedules)."""
    cli = ctx_of(ctx)
    with cli.session() as session:
        owner = owner_of(session, cli, graph_id, user, operator, f"graphs delete {graph_id}")
        count = service.delete_graph(session, owner, graph_id, utcnow())
    if json_out:
        print_json({"id": graph_id, "user_id": owner, "deleted_versions": count})
    else:
        console.print(Text(f"graph {graph_id} of {owner} deleted ({count} "
                           f"version{'s' if count != 1 else ''})"))


@app.command("archive")
@handle_errors
def archive(ctx: typer.Context, graph_id: str = typer.Argument(...), user: str | None = USER,
            operator: bool = OPERATOR, json_out: bool = JSON) -> None:
    """Archive a graph: it can no longer run, and its schedules are removed."""
    cli = ctx_of(ctx)
    with cli.session() as session:
        owner = owner_of(session, cli, graph_id, user, operator, f"graphs archive {graph_id}")
        count = service.archive_graph(session, owner, graph_id, utcnow())
    if json_out:
        print_json({"id": graph_id, "user_id": owner, "archived_versions": count})
    else:
        console.print(Text(f"graph {graph_id} of {owner} archived; its schedules were removed"))


def register(root: typer.Typer) -> None:
    """Add ``fleet graphs`` to the root command."""
    root.add_typer(app, name="graphs")
