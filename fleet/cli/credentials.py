"""``fleet credentials``: add, list, delete credentials; rotate the encryption key.

Secrets are read from a prompt (hidden) or from standard input, never from an
argument (arguments end up in shell histories and process lists).
"""

from __future__ import annotations

import getpass
import json
import sys
from datetime import datetime, timedelta
from typing import Any

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
from fleet.errors import InvalidInput, NotFound

app = typer.Typer(help="Credentials for the blocks that call other services (encrypted at "
                       "rest with FLEET_SECRET_KEY).", no_args_is_help=True)



def read_secret(kind: str) -> dict[str, Any]:
    """The secret payload of ``kind``: from standard input when it is not a terminal, else
    from hidden prompts. For OAuth2, standard input holds a JSON object or an access token."""
    if not sys.stdin.isatty():
        text = sys.stdin.read()
        if kind == "oauth2":
            stripped = text.strip()
            if stripped.startswith("{"):
                try:
                    loaded = json.loads(stripped)
                except json.JSONDecodeError as exc:
                    raise InvalidInput("the OAuth2 secret on stdin is not JSON",
                                       [f"stdin: {exc.msg}"]) from None
                if not isinstance(loaded, dict):
                    raise InvalidInput("the OAuth2 secret on stdin must be a JSON object",
                                       ["stdin: give access_token, refresh_token, "
                                        "client_secret"])
                return loaded
            return {"access_token": stripped}
        value = text[:-1] if text.endswith("\n") else text
        return {"key" if kind == "api_key" else "password": value.rstrip("\r")}
    if kind == "oauth2":
        return {"access_token": getpass.getpass("Access token: "),
                "refresh_token": getpass.getpass("Refresh token (empty for none): ") or None,
                "client_secret": getpass.getpass("Client secret (empty for none): ") or None}
    prompt = "API key: " if kind == "api_key" else "Password: "
    return {"key" if kind == "api_key" else "password": getpass.getpass(prompt)}


def _expiry(now: datetime, expires_in: str | None) -> datetime | None:
    if expires_in is None:
        return None
    # lazy: the artifacts package is only needed to parse the duration
    from fleet.artifacts.service import parse_duration

    return now + timedelta(seconds=parse_duration(expires_in))


@app.command("add")
@handle_errors
def add(ctx: typer.Context,
        name: str = typer.Argument(..., help="A name for the credential (unique per user)."),
        kind: str = typer.Option(..., "--kind", help="api_key | basic | oauth2"),
        username: str | None = typer.Option(None, "--username", help="basic: the user name."),
        token_url: str | None = typer.Option(None, "--token-url",
                                             help="oauth2: the provider's token URL."),
        client_id: str | None = typer.Option(None, "--client-id", help="oauth2: client id."),
        scope: list[str] = typer.Option([], "--scope", help="oauth2: a scope (repeatable)."),
        expires_in: str | None = typer.Option(None, "--expires-in", help="Expiry from now, "
                                              "e.g. 1h or 30d (oauth2: the access token's)."),
        user: str | None = USER, json_out: bool = JSON) -> None:
    """Add a credential; its secret is read from a prompt or from standard input."""
    # lazy: cryptography loads only for the credential commands
    from fleet.vault import service

    cli = ctx_of(ctx)
    now = utcnow()
    expires_at = _expiry(now, expires_in)
    secret = read_secret(kind) if kind in ("api_key", "basic", "oauth2") else {}
    with cli.session() as session:
        credential = service.add(session, now, settings=cli.settings, user_id=cli.user(user),
                                 name=name, kind=kind, secret=secret, username=username,
                                 token_url=token_url, client_id=client_id, scopes=scope,
                                 expires_at=expires_at)
    if json_out:
        print_json(service.view(credential))
    else:
        console.print(Text(f"credential {credential.id} ({credential.name}, {credential.kind}) "
                           "added"))


@app.command("list")
@handle_errors
def list_(ctx: typer.Context, user: str | None = USER, wide: bool = WIDE,
          json_out: bool = JSON) -> None:
    """List your credentials (never their secrets)."""
    # lazy: cryptography loads only for the credential commands
    from fleet.vault import service

    cli = ctx_of(ctx)
    with cli.session() as session:
        rows = [service.view(c) for c in service.list_credentials(session, cli.user(user))]
    if json_out:
        print_json(rows)
        return
    ids = short_ids([r["id"] for r in rows], wide)
    table = Table("id", "name", "kind", "username / client", "expires", "refreshable")
    for r in rows:
        table.add_row(ids[r["id"]], Text(r["name"]), r["kind"],
                      Text(r["username"] or r["client_id"] or ""),
                      r["expires_at"].isoformat() if r["expires_at"] else "",
                      "yes" if r["refreshable"] else "")
    keep_ids_whole(table, ids)
    console.print(table)


@app.command("delete")
@handle_errors
def delete(ctx: typer.Context,
           ref: str = typer.Argument(..., help="Credential id, id prefix or name."),
           user: str | None = USER, json_out: bool = JSON) -> None:
    """Delete one of your credentials."""
    # lazy: cryptography loads only for the credential commands
    from fleet.vault import service

    cli = ctx_of(ctx)
    owner = cli.user(user)
    with cli.session() as session:
        try:
            deleted = service.delete(session, owner, ref)
        except NotFound:  # not a full id or a name: maybe an id prefix
            session.rollback()
            deleted = service.delete(session, owner, resolve(session, "credential", ref, owner))
    if json_out:
        print_json({"deleted": deleted})
    else:
        console.print(Text(f"credential {deleted} deleted"))


@app.command("rotate-key")
@handle_errors
def rotate_key(ctx: typer.Context,
               batch: int | None = typer.Option(None, "--batch", min=1,
                                                help="Credentials per transaction."),
               json_out: bool = JSON) -> None:
    """Re-encrypt every credential with the first key of FLEET_SECRET_KEY, in batches.

    Rotation: put the new key first in FLEET_SECRET_KEY (new,old), run this, then
    drop the old key.
    """
    # lazy: cryptography loads only for the credential commands
    from fleet.vault import service

    cli = ctx_of(ctx)
    with cli.session() as session:
        report = service.rotate(session, utcnow(), settings=cli.settings, batch=batch)
    if json_out:
        print_json(report.to_dict())
    else:
        console.print(Text(f"re-encrypted {report.rotated} credential(s) with key "
                      f"{report.key_id} in {report.batches} batch(es)"
                      + (f"; {len(report.failed)} could not be decrypted: "
                         + ", ".join(report.failed) if report.failed else "")))
    if report.failed:
        raise typer.Exit(1)


@app.command("generate-key")
@handle_errors
def generate_key(json_out: bool = JSON) -> None:
    """Print a new Fernet key for FLEET_SECRET_KEY."""
    # lazy: cryptography loads only for the credential commands
    from fleet.vault.keys import generate_key as new_key
    from fleet.vault.keys import key_id

    key = new_key()
    if json_out:
        print_json({"key": key, "key_id": key_id(key)})
    else:
        sys.stdout.write(key + "\n")


def register(root: typer.Typer) -> None:
    """Add ``fleet credentials`` to the root command."""
    root.add_typer(app, name="credentials")
