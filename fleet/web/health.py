"""``/healthz`` (the process answers) and ``/readyz`` (the store and the broker are
reachable); neither needs a token. ``/metrics`` as well, unless configured otherwise."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from fleet.errors import NotAuthorized, Unauthenticated
from fleet.observe.health import store_ready
from fleet.redact import redact
from fleet.tokens import service as tokens
from fleet.web import metrics
from fleet.web.auth import ctx_of

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


def _broker_ready(redis_url: str | None) -> tuple[bool, str]:
    if not redis_url:
        return True, "in-memory broker (dev): runs are picked up by `fleet dev`"
    try:
        import redis

        client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure means not ready; say which, without the URL
        return False, redact(f"broker unreachable: {type(exc).__name__}")
    return True, "redis reachable"


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """200 when the database (at the expected migration) and the broker answer, else 503."""
    ctx = ctx_of(request)
    with ctx.session() as session:
        db_ok, db_detail = store_ready(session)
    broker_ok, broker_detail = _broker_ready(ctx.settings.redis_url)
    ok = db_ok and broker_ok
    return JSONResponse({"status": "ok" if ok else "unavailable",
                         "database": db_detail, "broker": broker_detail},
                        status_code=200 if ok else 503)


@router.get("/metrics")
def metrics_text(request: Request) -> Response:
    """The Prometheus exposition of the shared snapshot."""
    ctx = ctx_of(request)
    if not ctx.settings.web_metrics_public:
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret:
            raise Unauthenticated("/metrics needs an admin token (FLEET_WEB_METRICS_PUBLIC "
                                  "is false)")
        with ctx.session() as session:
            principal = tokens.authenticate(session, secret, ctx.clock())
        if not principal.is_admin:
            raise NotAuthorized("/metrics needs an admin token")
    body, content_type = metrics.render(lambda: ctx.snapshot.get())
    return Response(body, media_type=content_type)
