"""``fleet notify``: a user's own notification URLs and weekly-summary opt-out."""

from __future__ import annotations

from collections.abc import Mapping

import typer
from rich.text import Text

from fleet.cli.context import JSON, USER, console, ctx_of, handle_errors, print_json
from fleet.clock import utcnow
from fleet.errors import InvalidInput, NotFound
from fleet.redact import describe_urls
from fleet.store import alerts as store

app = typer.Typer(help="Per-user notification settings.", no_args_is_help=True)


def _check_urls(urls: list[str]) -> None:
    import apprise  # lazy: Apprise loads its plugins, only for the command that sets URLs

    problems = []
    for i, url in enumerate(urls, 1):
        if "://" not in url:
            problems.append(f"URL #{i} is not a URL (expected scheme://...)")
        elif not apprise.Apprise().add(url):
            problems.append(f"URL #{i} ({describe_urls([url])}) is not a URL Apprise "
                            "understands")
    if problems:
        raise InvalidInput("invalid notification URL(s); nothing was changed", problems)


@app.command("set")
@handle_errors
def set_(ctx: typer.Context, urls: list[str] = typer.Argument(None, help="Apprise URLs."),
         user: str | None = USER,
         weekly: bool | None = typer.Option(None, "--weekly-summary/--no-weekly-summary",
                                            help="Opt in or out of the weekly summary."),
         json_out: bool = JSON) -> None:
    """Set your notification URLs (replacing the old ones) and/or the weekly opt-in."""
    if not urls and weekly is None:
        raise InvalidInput("nothing to set", ["give one or more URLs, or --weekly-summary / "
                                              "--no-weekly-summary"])
    if urls:
        _check_urls(urls)
    cli = ctx_of(ctx)
    with cli.session() as session:
        row = store.set_notification(session, cli.user(user), utcnow(), urls=urls or None,
                                     weekly_summary=weekly)
        session.commit()
        out = {"user_id": row.user_id, "urls": describe_urls(row.urls),
               "weekly_summary": row.weekly_summary}
    _print(out, json_out)


@app.command("show")
@handle_errors
def show(ctx: typer.Context, user: str | None = USER,
         reveal: bool = typer.Option(False, "--reveal", help="Print the URLs in full."),
         json_out: bool = JSON) -> None:
    """Show your notification settings (URLs redacted unless --reveal)."""
    cli = ctx_of(ctx)
    who = cli.user(user)
    with cli.session() as session:
        row = store.get_notification(session, who)
        if row is None:
            raise NotFound(f"user {who} has no notification settings; "
                           f"set them with `fleet notify set --user {who} URL...`")
        out = {"user_id": row.user_id,
               "urls": list(row.urls) if reveal else describe_urls(row.urls),
               "weekly_summary": row.weekly_summary}
    _print(out, json_out)


@app.command("clear")
@handle_errors
def clear(ctx: typer.Context, user: str | None = USER, json_out: bool = JSON) -> None:
    """Remove your notification settings."""
    cli = ctx_of(ctx)
    who = cli.user(user)
    with cli.session() as session:
        removed = store.clear_notification(session, who)
        session.commit()
    if not removed:
        raise NotFound(f"user {who} has no notification settings")
    _print({"user_id": who, "cleared": True}, json_out)


def _print(out: Mapping[str, object], json_out: bool) -> None:
    if json_out:
        print_json(out)
    else:
        console.print(Text("  ".join(f"{k}: {v}" for k, v in out.items())))


def register(root: typer.Typer) -> None:
    """Add ``fleet notify`` to the root command."""
    root.add_typer(app, name="notify")
