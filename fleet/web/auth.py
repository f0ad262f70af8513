"""Who is calling: bearer tokens for the API, a signed session cookie for the dashboard.

The API takes ``Authorization: Bearer fleet_...`` on every route. The dashboard signs in
with a token once and keeps a signed, http-only, same-site cookie naming that token and
a CSRF secret; every request re-checks that the token is still valid (a revoked token
ends its sessions at once) and every form carries the CSRF secret.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterator
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session

from fleet.errors import CsrfRejected, NotAuthorized, ReadOnlyMode, Unauthenticated
from fleet.tokens import service as tokens
from fleet.tokens.service import Principal
from fleet.web.context import WebContext

COOKIE = "fleet_session"
_SALT = "fleet-dashboard-session"

bearer = HTTPBearer(auto_error=False, scheme_name="token",
                    description="An API token from `fleet tokens create`.")


def ctx_of(request: Request) -> WebContext:
    """The web context stored on the app."""
    ctx = request.app.state.ctx
    assert isinstance(ctx, WebContext)
    return ctx


def db(request: Request) -> Iterator[Session]:
    """A session for one request."""
    with ctx_of(request).session() as session:
        yield session


def api_principal(request: Request,
                  creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    """The caller of an API route, from its bearer token (Unauthenticated otherwise)."""
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise Unauthenticated("send an API token as `Authorization: Bearer fleet_...`; "
                              "create one with `fleet tokens create --user U --role ROLE`")
    ctx = ctx_of(request)
    with ctx.session() as session:
        return tokens.authenticate(session, creds.credentials, ctx.clock())


# --- the dashboard's session ---------------------------------------------------------


def _serializer(ctx: WebContext) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ctx.session_secret, salt=_SALT)


def _session_data(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    ctx = ctx_of(request)
    try:
        data = _serializer(ctx).loads(raw, max_age=int(ctx.settings.web_session_max_age_s))
    except BadSignature:
        return None
    return data if isinstance(data, dict) and "t" in data and "c" in data else None


def page_principal(request: Request) -> Principal:
    """The signed-in user of a dashboard page (Unauthenticated: the page sends them to
    the sign-in form)."""
    data = _session_data(request)
    if data is None:
        raise Unauthenticated("sign in with an API token")
    ctx = ctx_of(request)
    with ctx.session() as session:
        principal = tokens.principal_by_id(session, str(data["t"]), ctx.clock())
    request.state.csrf = str(data["c"])
    return principal


def csrf_of(request: Request) -> str:
    """The CSRF secret of the current session (for forms)."""
    return str(getattr(request.state, "csrf", ""))


def check_csrf(request: Request, presented: str | None) -> None:
    """Refuse a form whose CSRF token is not the session's."""
    expected = csrf_of(request)
    if not expected or not presented or not hmac.compare_digest(expected, presented):
        raise CsrfRejected("the form's CSRF token does not match your session; reload the "
                           "page and try again")


def sign_in(request: Request, response: Response, principal: Principal) -> None:
    """Set the session cookie for ``principal``."""
    ctx = ctx_of(request)
    value = _serializer(ctx).dumps({"t": principal.token_id, "c": secrets.token_urlsafe(24)})
    max_age = ctx.settings.web_session_max_age_s
    if principal.expires_at is not None:
        left = (principal.expires_at - ctx.clock()).total_seconds()
        max_age = max(1.0, min(max_age, left))
    secure = ctx.settings.web_cookie_secure or request.url.scheme == "https"
    response.set_cookie(COOKIE, value, max_age=int(max_age), httponly=True, samesite="lax",
                        secure=secure, path="/")


def sign_out(response: Response) -> None:
    """Drop the session cookie."""
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")


# --- what a principal may do ---------------------------------------------------------


def require_actor(ctx: WebContext, principal: Principal) -> None:
    """Refuse actions in read-only mode and from viewers."""
    if ctx.settings.web_read_only:
        raise ReadOnlyMode("this fleet web is read-only (FLEET_WEB_READ_ONLY=true): no action "
                           "is taken through it")
    if not principal.can_act:
        raise NotAuthorized(f"role '{principal.role}' may read but not act; an operator or "
                            "admin token is needed")


def require_admin(ctx: WebContext, principal: Principal, *, acting: bool = True) -> None:
    """Refuse non-admins (and, for actions, read-only mode)."""
    if acting:
        require_actor(ctx, principal)
    if not principal.is_admin:
        raise NotAuthorized("only an admin may do this (it concerns the whole fleet)")
