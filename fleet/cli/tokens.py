"""``fleet tokens``: create (the token is printed once), list (by prefix) and revoke API
tokens for the web API and dashboard."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from fleet.audit import service as audit
from fleet.cli.context import console, ctx_of, esc, handle_errors, print_json
from fleet.clock import utcnow
from fleet.store.models import ApiToken
from fleet.tokens import service as tokens

app = typer.Typer(help="API tokens of the web API and dashboard (roles: viewer, operator, "
                       "admin).", no_args_is_help=True)


def _actor(user: str) -> audit.Actor:
    return audit.Actor(user, "", "cli")


@app.command("create")
@handle_errors
def create(ctx: typer.Context,
           user: str = typer.Option(..., "--user", "-u", help="Whose token it is."),
           role: str = typer.Option(..., "--role", help="viewer, operator or admin."),
           expires: str | None = typer.Option(None, "--expires", help="Lifetime, e.g. 90d, "
                                              "12h, or 'never' (default: "
                                              "FLEET_WEB_TOKEN_DEFAULT_EXPIRY_DAYS)."),
           name: str = typer.Option("", "--name", help="A note to recognise it by."),
           json_out: bool = typer.Option(False, "--json")) -> None:
    """Create a token; it is shown once, only its hash is stored."""
    c = ctx_of(ctx)
    days = c.settings.web_token_default_expiry_days
    if expires is None:
        lifetime = tokens.parse_duration(f"{days:g}d") if days > 0 else None
    elif expires.strip().lower() == "never":
        lifetime = None
    else:
        lifetime = tokens.parse_duration(expires)
    now = utcnow()
    with c.session() as session:
        new = tokens.create(session, user_id=user, role=role, now=now, expires_in=lifetime,
                            name=name)
        audit.record(session, now, _actor(c.settings.user), "token.create", target_kind="token",
                     target_id=new.row.prefix, target_user=user, detail={"role": role})
    row = new.row
    if json_out:
        print_json({"token": new.secret, "prefix": row.prefix, "user_id": row.user_id,
                    "role": row.role, "expires_at": row.expires_at})
        return
    console.print(f"token for [bold]{esc(row.user_id)}[/] ({esc(row.role)}), prefix "
                  f"{esc(row.prefix)}, expires "
                  f"{row.expires_at.isoformat() if row.expires_at else 'never'}")
    console.print("store it now, it is not shown again:", highlight=False)
    typer.echo(new.secret)


@app.command("list")
@handle_errors
def list_cmd(ctx: typer.Context,
             user: str | None = typer.Option(None, "--user", "-u", help="Only this user's."),
             json_out: bool = typer.Option(False, "--json")) -> None:
    """Tokens by prefix (never the secret), newest first."""
    now = utcnow()
    with ctx_of(ctx).session() as session:
        rows = tokens.list_tokens(session, user_id=user)

    def status(r: ApiToken) -> str:
        if r.revoked_at is not None:
            return "revoked"
        return "expired" if r.expires_at is not None and r.expires_at <= now else "active"

    data = [{"prefix": r.prefix, "user_id": r.user_id, "role": r.role, "name": r.name,
             "status": status(r), "created_at": r.created_at, "expires_at": r.expires_at,
             "last_used_at": r.last_used_at, "revoked_at": r.revoked_at} for r in rows]
    if json_out:
        print_json(data)
        return
    def cell(value: object) -> str:
        when = getattr(value, "strftime", None)
        return when("%Y-%m-%d %H:%M") if when else str(value or "")

    table = Table("prefix", "user", "role", "status", "created", "expires", "last used", "name")
    for d in data:
        table.add_row(*(Text(cell(d[k])) for k in ("prefix", "user_id", "role", "status",
                                             "created_at", "expires_at", "last_used_at",
                                             "name")))
    console.print(table)


@app.command("revoke")
@handle_errors
def revoke(ctx: typer.Context, prefix: str = typer.Argument(..., help="The token's prefix "
                                                                     "(or its start)."),
           json_out: bool = typer.Option(False, "--json")) -> None:
    """Revoke a token: the API and the dashboard refuse it at once."""
    c = ctx_of(ctx)
    now = utcnow()
    with c.session() as session:
        row = tokens.revoke(session, prefix, now)
        audit.record(session, now, _actor(c.settings.user), "token.revoke", target_kind="token",
                     target_id=row.prefix, target_user=row.user_id)
    if json_out:
        print_json({"prefix": row.prefix, "user_id": row.user_id, "revoked_at": row.revoked_at})
    else:
        console.print(Text(f"token {row.prefix} of {row.user_id} revoked"))


def register(root: typer.Typer) -> None:
    """Add ``fleet tokens`` to the root command."""
    root.add_typer(app, name="tokens")
