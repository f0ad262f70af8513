"""The one FastAPI app of ``fleet web``: the API under ``/api/v1`` (OpenAPI at
``/api/v1/openapi.json``), the dashboard under ``/``, ``/metrics``, ``/healthz`` and
``/readyz``. Built from settings by :func:`create_app`, the entry point of the web process:
it builds the engine, the run sender and the liveness port once and reads the clock.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from fleet import __version__
from fleet.clock import utcnow
from fleet.engine.blocks.registry import BlockRegistry, default_registry
from fleet.ports import Liveness, RunSender
from fleet.settings import Settings
from fleet.store.db import engine_for
from fleet.web import errors, headers, health, pages
from fleet.web.api import build_router
from fleet.web.context import WebContext
from fleet.web.observed import Observed, load
from fleet.web.snapshot import SharedSnapshot
from fleet.worker.wiring import liveness as liveness_for
from fleet.worker.wiring import run_sender

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


def _secret(settings: Settings) -> str:
    if settings.web_session_secret:
        return settings.web_session_secret
    log.warning("FLEET_WEB_SESSION_SECRET is not set: dashboard sign-ins are signed with a "
                "random key of this process (they end when it restarts and do not carry "
                "over to other web processes)")
    return secrets.token_urlsafe(32)


def create_app(settings: Settings, *, engine: Engine | None = None,
               send: RunSender | None = None, liveness: Liveness | None = None,
               clock: Callable[[], datetime] = utcnow, registry: BlockRegistry | None = None,
               snapshot_background: bool = True) -> FastAPI:
    """The web app on ``settings``'s database and broker (or the ports given, for tests)."""
    owned = engine is None
    eng = engine if engine is not None else engine_for(settings, pool_size=10)
    ctx_holder: list[WebContext] = []

    def _load() -> Observed:
        ctx = ctx_holder[0]
        return load(ctx.session, ctx.clock(), ctx.settings)

    ctx = WebContext(
        settings=settings, engine=eng,
        send=send if send is not None else run_sender(settings),
        registry=registry or default_registry(), clock=clock,
        snapshot=SharedSnapshot(_load, settings.web_snapshot_ttl_s,
                                background=snapshot_background),
        session_secret=_secret(settings),
        liveness=liveness if liveness is not None else liveness_for(settings))
    ctx_holder.append(ctx)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            eng.dispose()

    app = FastAPI(title="fleet", version=__version__, lifespan=lifespan,
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None,
                  description="The REST API of fleet: graphs, runs, schedules, runtimes, "
                              "sweeps, alerts, batch operations and the audit log. Every "
                              "route takes `Authorization: Bearer <token>` (`fleet tokens "
                              "create`); errors are `{\"error\": {\"code\", \"message\", "
                              "\"problems\"}}`.")
    app.state.ctx = ctx
    errors.install(app, html=pages.error_page)
    headers.install(app)
    app.include_router(build_router())
    app.include_router(health.router)
    app.include_router(pages.build_router())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
