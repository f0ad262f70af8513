"""Signing in (with an API token) and out."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from fleet.errors import Unauthenticated
from fleet.tokens import service as tokens
from fleet.web.auth import ctx_of, sign_in, sign_out
from fleet.web.pages.common import acting, render, safe_next

router = APIRouter()


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    """The sign-in form."""
    return render(request, "login.html", None, next=safe_next(next), error=None)


@router.post("/login")
def login(request: Request, token: str = Form("", max_length=512),
          next: str = Form("/", max_length=2000)) -> Response:
    """Check the token; on success set the session cookie and go on."""
    ctx = ctx_of(request)
    try:
        with ctx.session() as session:
            principal = tokens.authenticate(session, token, ctx.clock())
    except Unauthenticated as exc:
        return render(request, "login.html", None, status_code=401, next=safe_next(next),
                      error=exc.message)
    response = RedirectResponse(safe_next(next), status_code=303)
    sign_in(request, response, principal)
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    """Drop the session cookie."""
    acting(request, csrf)
    response = RedirectResponse("/login", status_code=303)
    sign_out(response)
    return response
