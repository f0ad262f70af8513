"""``fleet notify``: a user's own notification URLs and weekly-summary opt-out."""

from __future__ import annotations

from collections.abc import Mapping

import typer

from fleet.cli.context import console, ctx_of, handle_errors, print_json
from fleet.clock import utcnow
from fleet.errors import InvalidInput, NotFound
from fleet.redact import describe_urls
from fleet.store import alerts as store

app = typer.Typer(help="Per-user notification settings.", no_args_is_help=True)


def _check_urls(urls: list[str]) -> None:
    import apprise

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
         user: str = typer.Option(..., "--user", help="The user."),
         weekly: bool | None = typer.Option(None, "--weekly-summary/--no-weekly-summary",
                                            help="Opt in or out of the weekly summary."),
         json_out: bool = typer.Option(False, "--json")) -> None:
    """Set USER's notification URLs (replacing the old ones) and/or the weekly opt-in."""
    if not urls and weekly is None:
        raise InvalidInput("nothing to set", ["give one or more URLs, or --weekly-summary / "
                                              "--no-weekly-summary"])
    if urls:
        _check_urls(urls)
    with ctx_of(ctx).session() as session:
        row = store.set_notification(session, user, utcnow(), urls=urls or None,
                                     weekly_summary=weekly)
        session.commit()
        out = {"user_id": row.user_id, "urls": describe_urls(row.urls),
               "weekly_summary": row.weekly_summary}
    _print(out, json_out)


@app.command("show")
@handle_errors
def show(ctx: typer.Context, user: str = typer.Option(..., "--user"),
         reveal: bool = typer.Option(False, "--reveal", help="Print the URLs in full."),
         json_out: bool = typer.Option(False, "--json")) -> None:
    """Show USER's notification settings (URLs redacted unless --reveal)."""
    with ctx_of(ctx).session() as session:
        row = store.get_notification(session, user)
        if row is None:
            raise NotFound(f"user {user} has no notification settings; "
                           f"set them with `fleet notify set --user {user} URL...`")
        out = {"user_id": row.user_id,
               "urls": list(row.urls) if reveal else describe_urls(row.urls),
               "weekly_summary": row.weekly_summary}
    _print(out, json_out)


@app.command("clear")
@handle_errors
def clear(ctx: typer.Context, user: str = typer.Option(..., "--user"),
          json_out: bool = typer.Option(False, "--json")) -> None:
    """Remove USER's notification settings."""
    with ctx_of(ctx).session() as session:
        removed = store.clear_notification(session, user)
        session.commit()
    if not removed:
        raise NotFound(f"user {user} has no notification settings")
    _print({"user_id": user, "cleared": True}, json_out)


def _print(out: Mapping[str, object], json_out: bool) -> None:
    if json_out:
        print_json(out)
    else:
        console.print("  ".join(f"{k}: {v}" for k, v in out.items()), highlight=False)


def register(root: typer.Typer) -> None:
    """Add ``fleet notify`` to the root command."""
    root.add_typer(app, name="notify")
