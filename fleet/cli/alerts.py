"""``fleet alerts``: list recorded alerts and send a test notification."""

from __future__ import annotations

import typer

from fleet.alerts.service import TAGS, AlertService
from fleet.cli.context import console, ctx_of, fail, handle_errors, print_json
from fleet.redact import redact
from fleet.store import alerts as store

app = typer.Typer(help="List alerts and test alert destinations.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_alerts(ctx: typer.Context,
                state: str | None = typer.Option(None, help="firing, resolved or notice."),
                kind: str | None = typer.Option(None, help="Only this kind."),
                limit: int = typer.Option(100, min=1, max=500),
                json_out: bool = typer.Option(False, "--json")) -> None:
    """Recorded alerts, most recently seen first."""
    if state is not None and state not in (store.FIRING, store.RESOLVED, store.NOTICE):
        fail(f"unknown state '{state}'; use firing, resolved or notice")
    with ctx_of(ctx).session() as session:
        rows = store.list_alerts(session, state=state, kind=kind, limit=limit)
    if json_out:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    if not rows:
        console.print("no alerts recorded")
        return
    for r in rows:
        sent = r.last_sent_at.isoformat() if r.last_sent_at else "never"
        delivery = ("pending" if r.pending_delivery else
                    {True: "delivered", False: "failed", None: "logged"}[r.delivery_ok])
        first = r.message.splitlines()[0] if r.message else ""
        console.print(f"{r.state:<8} {r.kind:<22} {r.fingerprint[:40]:<40} sent {r.send_count}x, "
                      f"last {sent}, {delivery}: {redact(first)}", highlight=False)


@app.command("test")
@handle_errors
def test(ctx: typer.Context,
         tag: str = typer.Option("ops", help=f"One of {', '.join(TAGS)}."),
         user: str | None = typer.Option(None, "--user", help="For --tag user."),
         json_out: bool = typer.Option(False, "--json")) -> None:
    """Send a test notification to the URLs configured for TAG."""
    cli = ctx_of(ctx)
    service = AlertService.from_settings(cli.settings)
    with cli.session() as session:
        result = service.test(tag, session=session, user_id=user)
    if json_out:
        print_json({"tag": tag, "ok": result.ok, "detail": result.detail})
    else:
        console.print(("sent: " if result.ok else "not sent: ") + result.detail, highlight=False)
    if not result.ok:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    """Add ``fleet alerts`` to the root command."""
    root.add_typer(app, name="alerts")
