"""``fleet dev``'s dashboard: the web app in a thread, and a dev admin token to sign in.

Kept apart from :mod:`fleet.worker.dev` on purpose: ``fleet dev`` calls
:func:`start_dev_web` before it starts the workers and stops the handle at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlmodel import Session

from fleet.clock import utcnow
from fleet.settings import Settings
from fleet.store.db import engine_for
from fleet.tokens import service as tokens
from fleet.web.server import WebThread, start_in_thread
from fleet.worker.dev import prepare_database

DEV_TOKEN_LIFETIME = timedelta(hours=24)


def start_dev_web(settings: Settings, *, host: str, port: int,
                  echo: Callable[[str], None]) -> WebThread | None:
    """Serve the dashboard and API on ``host:port`` and print the URL and an admin token."""
    prepare_database(settings)  # the token needs the tables; fleet dev's own call is a no-op
    engine = engine_for(settings)
    try:
        with Session(engine, expire_on_commit=False) as session:
            new = tokens.create(session, user_id=settings.user, role="admin", now=utcnow(),
                                expires_in=DEV_TOKEN_LIFETIME, name="fleet dev")
    finally:
        engine.dispose()
    web = start_in_thread(settings, host, port)
    if web is None:
        echo(f"web: could not listen on {host}:{port} (in use?); set FLEET_WEB_PORT or "
             "pass --web-port; carrying on without the dashboard")
        return None
    echo(f"web: dashboard on {web.url}, API under {web.url}api/v1")
    echo(f"web: sign in with this dev admin token of '{settings.user}' (valid 24 h):")
    echo(new.secret)
    return web
