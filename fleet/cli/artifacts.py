"""``fleet artifacts``: put, get, list and delete your files (the files of runs)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from fleet.cli.context import (
    JSON,
    USER,
    WIDE,
    console,
    ctx_of,
    handle_errors,
    keep_ids_whole,
    print_json,
    short_ids,
)
from fleet.cli.ids import resolve
from fleet.clock import utcnow
from fleet.errors import InvalidInput

app = typer.Typer(help="Files for runs' inputs and written by blocks, kept until they expire.",
                  no_args_is_help=True)



@app.command("put")
@handle_errors
def put(ctx: typer.Context, file: Path = typer.Argument(..., help="The file to upload."),
        expires: str | None = typer.Option(None, "--expires", help="Kept for (1h-48h, e.g. "
                                           "24h; default FLEET_ARTIFACT_EXPIRY_DEFAULT_S)."),
        content_type: str | None = typer.Option(None, "--content-type",
                                                help="Default: guessed from the name."),
        system: bool = typer.Option(False, "--system", help="A system artifact: never "
                                    "expires."),
        user: str | None = USER, json_out: bool = JSON) -> None:
    """Upload a file; a run's graph input of type artifact takes {"artifact": ID}."""
    # lazy: fsspec loads only for the artifact commands
    from fleet.artifacts import service
    from fleet.artifacts.storage import storage_for

    cli = ctx_of(ctx)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}", [f"{file}: {exc.strerror or exc}"]) from None
    seconds = service.parse_duration(expires) if expires is not None else None
    with cli.session() as session:
        artifact = service.put(session, utcnow(), storage=storage_for(cli.settings),
                               settings=cli.settings, user_id=cli.user(user), name=file.name,
                               data=data, content_type=content_type, expires_in_s=seconds,
                               scope="system" if system else "user")
    if json_out:
        print_json({**service.view(artifact), "ref": service.ref(artifact)})
    else:
        until = artifact.expires_at.isoformat() if artifact.expires_at else "never"
        console.print(Text(f"artifact {artifact.id} ({artifact.name}, {artifact.size} bytes) "
                           f"stored; expires {until}"))


@app.command("get")
@handle_errors
def get(ctx: typer.Context, artifact_id: str = typer.Argument(..., help="Id or prefix."),
        output: Path | None = typer.Option(None, "--output", "-o",
                                           help="Write here (default: standard output)."),
        user: str | None = USER, json_out: bool = JSON) -> None:
    """Download one of your artifacts."""
    # lazy: fsspec loads only for the artifact commands
    from fleet.artifacts import service
    from fleet.artifacts.storage import storage_for

    cli = ctx_of(ctx)
    owner = cli.user(user)
    with cli.session() as session:
        full = resolve(session, "artifact", artifact_id, owner)
        artifact, data = service.get(session, utcnow(), storage=storage_for(cli.settings),
                                     user_id=owner, artifact_id=full)
    if output is not None:
        output.write_bytes(data)
    if json_out:
        print_json({**service.view(artifact), "written_to": str(output) if output else None})
    elif output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        console.print(Text(f"wrote {len(data)} bytes to {output}"))


@app.command("list")
@handle_errors
def list_(ctx: typer.Context, run: str | None = typer.Option(None, "--run",
                                                            help="Only this run's files."),
          limit: int = typer.Option(200, "--limit", min=1, max=1000),
          user: str | None = USER, wide: bool = WIDE, json_out: bool = JSON) -> None:
    """List your artifacts, newest first."""
    # lazy: fsspec loads only for the artifact commands
    from fleet.artifacts import service

    cli = ctx_of(ctx)
    with cli.session() as session:
        rows = [service.view(a) for a in service.list_artifacts(
            session, cli.user(user), run_id=run, limit=limit)]
    if json_out:
        print_json(rows)
        return
    ids = short_ids([r["id"] for r in rows], wide)
    table = Table("id", "name", "scope", "size", "type", "expires")
    for r in rows:
        table.add_row(ids[r["id"]], Text(r["name"]), r["scope"], str(r["size"]),
                      Text(r["content_type"]),
                      r["expires_at"].isoformat() if r["expires_at"] else "never")
    keep_ids_whole(table, ids)
    console.print(table)


@app.command("delete")
@handle_errors
def delete(ctx: typer.Context, artifact_id: str = typer.Argument(..., help="Id or prefix."),
           user: str | None = USER, json_out: bool = JSON) -> None:
    """Delete one of your artifacts (its file, then its record)."""
    # lazy: fsspec loads only for the artifact commands
    from fleet.artifacts import service
    from fleet.artifacts.storage import storage_for

    cli = ctx_of(ctx)
    owner = cli.user(user)
    with cli.session() as session:
        full = resolve(session, "artifact", artifact_id, owner)
        deleted = service.delete(session, utcnow(), storage=storage_for(cli.settings),
                                 user_id=owner, artifact_id=full)
    if json_out:
        print_json({"deleted": deleted})
    else:
        console.print(Text(f"artifact {deleted} deleted"))


def register(root: typer.Typer) -> None:
    """Add ``fleet artifacts`` to the root command."""
    root.add_typer(app, name="artifacts")
