"""``fleet alerts``: list recorded alerts and send a test notification."""

from __future__ import annotations

import typer
from rich.text import Text

from fleet.alerts.service import TAGS, AlertService
from fleet.cli.context import JSON, OPERATOR, USER, console, ctx_of, fail, handle_errors, print_json
from fleet.redact import redact
from fleet.store import alerts as store
from fleet.store import lookup

app = typer.Typer(help="List alerts and test alert destinations.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_alerts(ctx: typer.Context,
                state: str | None = typer.Option(None, help="firing, resolved or notice."),
                kind: str | None = typer.Option(None, help="Only this kind."),
                limit: int = typer.Option(100, min=1, max=500),
                user: str | None = USER, operator: bool = OPERATOR,
                json_out: bool = JSON) -> None:
    """Alerts addressed to you (every alert, ops and product too, with --operator), most
    recently seen first."""
    if state is not None and state not in (store.FIRING, store.RESOLVED, store.NOTICE):
        fail(f"unknown state '{state}'; use firing, resolved or notice")
    cli = ctx_of(ctx)
    owner = cli.scope(user, operator, "alerts list")
    with cli.session() as session:
        rows = lookup.alerts_for(session, user_id=owner, state=state, kind=kind, limit=limit)
    if json_out:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    if not rows:
        console.print(Text("no alerts recorded" + (
            f" for user '{owner}' (ops and product alerts: --operator)" if owner else "")))
        return
    for r in rows:
        sent = r.last_sent_at.isoformat() if r.last_sent_at else "never"
        delivery = ("pending" if r.pending_delivery else
                    {True: "delivered", False: "failed", None: "logged"}[r.delivery_ok])
        first = r.message.splitlines()[0] if r.message else ""
        console.print(Text(f"{r.state:<8} {r.kind:<22} {r.fingerprint[:40]:<40} sent "
                           f"{r.send_count}x, last {sent}, {delivery}: {redact(first)}"))


@app.command("test")
@handle_errors
def test(ctx: typer.Context,
         tag: str = typer.Option("ops", help=f"One of {', '.join(TAGS)}."),
         user: str | None = typer.Option(None, "--user", "-u", help="For --tag user: whose "
                                         "URLs (default: FLEET_USER, else 'local')."),
         json_out: bool = JSON) -> None:
    """Send a test notification to the URLs configured for TAG."""
    cli = ctx_of(ctx)
    service = AlertService.from_settings(cli.settings)
    with cli.session() as session:
        result = service.test(tag, session=session,
                              user_id=cli.user(user) if tag == "user" else None)
    if json_out:
        print_json({"tag": tag, "ok": result.ok, "detail": result.detail})
    else:
        console.print(Text(("sent: " if result.ok else "not sent: ") + result.detail))
    if not result.ok:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    """Add ``fleet alerts`` to the root command."""
    root.add_typer(app, name="alerts")
