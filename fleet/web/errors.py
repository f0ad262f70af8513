"""Errors as JSON: ``{"error": {"code", "message", "problems"}}`` with the right status.

Every FleetError maps to a status by its class; request validation errors name the bad
field (``body.inputs``, ``query.limit``); anything unexpected is a 500 with a generic
message (the details go to the log, never to the client).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from fleet.errors import (
    Conflict,
    FleetError,
    IllegalTransition,
    InvalidInput,
    LeaseLost,
    NotAuthorized,
    NotFound,
    NotWaiting,
    StoreNotReady,
    StoreUnavailable,
    Unauthenticated,
)
from fleet.redact import redact

log = logging.getLogger(__name__)

STATUS: tuple[tuple[type[FleetError], int], ...] = (
    (Unauthenticated, 401),
    (NotAuthorized, 403),
    (NotFound, 404),
    (InvalidInput, 422),
    (Conflict, 409),
    (IllegalTransition, 409),
    (NotWaiting, 409),
    (LeaseLost, 409),
    (StoreUnavailable, 503),
    (StoreNotReady, 503),
)


class ErrorDetail(BaseModel):
    """What went wrong."""

    code: str
    message: str
    problems: list[str] = []


class ErrorBody(BaseModel):
    """Every error answer of the API."""

    error: ErrorDetail


MACHINE_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})  # answered in JSON, like /api

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (401, 403, 404, 409, 422, 503)
}


def status_of(exc: FleetError) -> int:
    """The HTTP status of a FleetError."""
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 409  # a refused action whose cause is the current state of things


def body(code: str, message: str, problems: list[str] | None = None) -> dict[str, Any]:
    """The JSON error body."""
    return {"error": {"code": code, "message": message, "problems": list(problems or [])}}


def fleet_error_response(exc: FleetError) -> JSONResponse:
    """The JSON answer for a FleetError."""
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    problems = exc.problems if isinstance(exc, InvalidInput) else []
    return JSONResponse(body(exc.code, exc.message, problems), status_code=status,
                        headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "request"


def validation_problems(exc: RequestValidationError) -> list[str]:
    """One line per problem, each naming its field."""
    return [f"{_field(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()]


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the OpenAPI document lists for ``path`` (its literal entry when it has
    one, else the templates it matches)."""
    paths = app.openapi().get("paths", {})
    if path in paths:
        return sorted(m.upper() for m in paths[path])
    found: set[str] = set()
    for template, ops in paths.items():
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            found |= {m.upper() for m in ops}
    return sorted(found)


def install(app: FastAPI, *, html: Any = None) -> None:
    """Register the handlers on ``app``; ``html(request, status, message)`` renders
    dashboard errors (paths outside ``/api``) when given."""

    def _wants_html(request: Request) -> bool:
        path = request.url.path
        return html is not None and not path.startswith("/api/") and path not in MACHINE_PATHS

    async def on_fleet_error(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, FleetError)
        if _wants_html(request):
            return html(request, exc)
        return fleet_error_response(exc)

    async def on_validation(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, RequestValidationError)
        err = InvalidInput("invalid request", validation_problems(exc))
        if _wants_html(request):
            return html(request, err)
        return fleet_error_response(err)

    async def on_http(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:  # a body that is not what its content type says
            err = InvalidInput("the request body could not be parsed",
                               [f"body: {exc.detail}; send JSON as the route documents"])
            return html(request, err) if _wants_html(request) else fleet_error_response(err)
        if _wants_html(request) and exc.status_code == 404:
            return html(request, NotFound(str(exc.detail)))
        code = {404: "E-INPUT-002", 405: "E-INPUT-001"}.get(exc.status_code, "E-FLEET-000")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            # Every method of the path (FastAPI keeps one route per method, so Starlette
            # would list only the first route's).
            headers["Allow"] = ", ".join(allowed_methods(app, request.url.path))
        return JSONResponse(body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=headers or None)

    async def on_store_error(request: Request, exc: Exception) -> Any:
        # The database is unreachable or busy (a SQLite lock held too long): the request
        # changed nothing (its transaction rolled back) and may be retried.
        log.warning("store error on %s %s: %s", request.method, request.url.path,
                    redact(f"{type(exc).__name__}: {exc}"))
        err = StoreUnavailable("the database is unreachable or busy; nothing was changed, "
                               "retry in a moment")
        if _wants_html(request):
            return html(request, err)
        return fleet_error_response(err)

    async def on_unexpected(request: Request, exc: Exception) -> Any:
        log.error("unexpected error on %s %s: %s", request.method, request.url.path,
                  redact(f"{type(exc).__name__}: {exc}"), exc_info=exc)
        return JSONResponse(body("E-FLEET-000", "internal error; the server log has the "
                                               "details"), status_code=500)

    app.add_exception_handler(FleetError, on_fleet_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    async def on_data_error(request: Request, exc: Exception) -> Any:
        # A value the database refused (too long, out of range): the transaction rolled back.
        log.warning("store refused a value on %s %s: %s", request.method, request.url.path,
                    redact(f"{type(exc).__name__}: {str(exc).splitlines()[0]}"))
        err = InvalidInput("a value does not fit the store; nothing was changed",
                           ["a text is too long or a number too large for its field"])
        return html(request, err) if _wants_html(request) else fleet_error_response(err)

    app.add_exception_handler(OperationalError, on_store_error)
    app.add_exception_handler(DataError, on_data_error)
    app.add_exception_handler(Exception, on_unexpected)
