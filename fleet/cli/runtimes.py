"""``fleet runtimes``: the worker processes of the fleet."""

from __future__ import annotations

from collections.abc import Mapping

import typer
from rich.table import Table
from rich.text import Text

from fleet.cli.context import console, ctx_of, handle_errors, print_json
from fleet.clock import utcnow
from fleet.errors import InvalidInput
from fleet.store import runs as run_store
from fleet.store import runtimes as store

app = typer.Typer(help="Worker processes (runtimes) and their heartbeats.",
                  no_args_is_help=True)


@app.command("list")
@handle_errors
def list_cmd(ctx: typer.Context,
             status: str | None = typer.Option(None, "--status", help="online or offline."),
             limit: int = typer.Option(200, "--limit", min=1, max=1000),
             json_out: bool = typer.Option(False, "--json")) -> None:
    """Runtimes, most recently seen first, with heartbeat age and runs held."""
    if status is not None and status not in {"online", "offline"}:
        raise InvalidInput(f"unknown status '{status}'", ["--status must be online or offline"])
    now = utcnow()
    with ctx_of(ctx).session() as session:
        rows = store.list_runtimes(session, status=status, limit=limit)
        held = {r.id: len(run_store.held_by_runtime(session, r.id)) for r in rows}
    data = [{
        "id": r.id, "name": r.name, "hostname": r.hostname, "pid": r.pid, "status": r.status,
        "queues": r.queues, "concurrency": r.concurrency, "version": r.version,
        "registered_at": r.registered_at, "last_seen_at": r.last_seen_at,
        "offline_at": r.offline_at,
        "heartbeat_age_s": round((now - r.last_seen_at).total_seconds(), 1),
        "runs_held": held[r.id],
    } for r in rows]
    if json_out:
        print_json(data)
        return
    table = Table("id", "status", "host", "pid", "threads", "queues", "seen (s ago)", "runs")
    for d in data:
        table.add_row(Text(str(d["id"])), str(d["status"]), Text(str(d["hostname"])),
                      str(d["pid"]),
                      str(d["concurrency"]), Text(",".join(r for r in rows_queues(d))),
                      str(d["heartbeat_age_s"]), str(d["runs_held"]))
    console.print(table)


def rows_queues(d: Mapping[str, object]) -> list[str]:
    """The queues of one listed runtime as strings."""
    queues = d.get("queues")
    return [str(q) for q in queues] if isinstance(queues, list) else []


def register(root: typer.Typer) -> None:
    """Add ``fleet runtimes`` to the root command."""
    root.add_typer(app, name="runtimes")
