"""What every dashboard page shares: the templates, their filters, the signed-in user,
CSRF checks on forms and redirects with a notice."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from fleet.clock import as_utc
from fleet.tokens.service import Principal
from fleet.web.auth import check_csrf, csrf_of, ctx_of, page_principal

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES))
POLL_S = 5


def ago(value: datetime | None, now: datetime) -> str:
    """``12s ago``, ``3 min ago``, ``in 5 min``."""
    if value is None:
        return "never"
    s = (now - as_utc(value)).total_seconds()
    future, s = s < 0, abs(s)
    if s < 90:
        text = f"{s:.0f}s"
    elif s < 5400:
        text = f"{s / 60:.0f} min"
    elif s < 172_800:
        text = f"{s / 3600:.1f} h"
    else:
        text = f"{s / 86_400:.1f} days"
    return f"in {text}" if future else f"{text} ago"


def ts(value: datetime | str | None) -> str:
    """A UTC timestamp, to the second."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return as_utc(value).strftime("%Y-%m-%d %H:%M:%SZ")


def secs(value: float | None) -> str:
    """A duration in seconds, readably."""
    if value is None:
        return ""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.2f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def pretty(value: Any) -> str:
    """JSON, indented (the template escapes it)."""
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def qs(params: dict[str, Any], **more: Any) -> str:
    """A query string of ``params`` updated with ``more`` (None drops a key)."""
    merged = {**params, **more}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")}, doseq=True)


templates.env.filters.update(ts=ts, secs=secs, pretty=pretty)
templates.env.globals.update(qs=qs)


def render(request: Request, name: str, principal: Principal | None,
           status_code: int = 200, **context: Any) -> Response:
    """A page, with what every page shows (who is signed in, the CSRF token, the notice)."""
    ctx = ctx_of(request)
    now = ctx.clock()
    base = {
        "principal": principal, "csrf": csrf_of(request), "now": now,
        "read_only": ctx.settings.web_read_only,
        "can_act": bool(principal and principal.can_act and not ctx.settings.web_read_only),
        "is_admin": bool(principal and principal.is_admin),
        "notice": request.query_params.get("notice", "")[:300],
        "ago": lambda v: ago(v, now), "poll_s": POLL_S, "path": request.url.path,
    }
    response = templates.TemplateResponse(request, name, {**base, **context},
                                          status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def viewer(request: Request) -> Principal:
    """The signed-in user (a dependency of every page)."""
    principal = page_principal(request)
    request.state.principal = principal
    return principal


def acting(request: Request, csrf: str | None) -> Principal:
    """The signed-in user of a form post, after the CSRF check."""
    principal = viewer(request)
    check_csrf(request, csrf)
    return principal


def back(url: str, notice: str) -> RedirectResponse:
    """Redirect (303, after a form post) to ``url`` with a notice to show."""
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}{urlencode({'notice': notice})}", status_code=303)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target
