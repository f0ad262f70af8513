"""OAuth2 refresh through the provider's token URL: the port and its httpx implementation.

The double (``fleet.testing.oauth.FakeTokenEndpoint``) answers from memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from fleet.errors import CredentialUnavailable
from fleet.redact import redact


@dataclass(frozen=True)
class TokenGrant:
    """What a token endpoint answered to a refresh."""

    access_token: str = field(repr=False)
    expires_in_s: float | None = None
    refresh_token: str | None = field(default=None, repr=False)  # a rotated refresh token
    scopes: tuple[str, ...] | None = None


class TokenEndpoint(Protocol):
    """Where an OAuth2 refresh token is exchanged for a new access token."""

    def refresh(self, token_url: str, *, refresh_token: str, client_id: str | None,
                client_secret: str | None, scopes: list[str], timeout_s: float) -> TokenGrant:
        """Exchange ``refresh_token`` at ``token_url``; raises CredentialUnavailable on refusal."""
        ...


def grant_from_json(data: Any, token_url: str) -> TokenGrant:
    """A TokenGrant from a token endpoint's JSON answer (RFC 6749 §5.1)."""
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise CredentialUnavailable(f"the token endpoint {redact(token_url)} answered without "
                                    "an access_token")
    expires = data.get("expires_in")
    scope = data.get("scope")
    return TokenGrant(
        access_token=data["access_token"],
        expires_in_s=float(expires) if isinstance(expires, int | float) else None,
        refresh_token=data.get("refresh_token") if isinstance(data.get("refresh_token"), str)
        else None,
        scopes=tuple(scope.split()) if isinstance(scope, str) else None)


class HttpTokenEndpoint:
    """The real token endpoint: a form POST with ``grant_type=refresh_token`` (httpx)."""

    def refresh(self, token_url: str, *, refresh_token: str, client_id: str | None,
                client_secret: str | None, scopes: list[str], timeout_s: float) -> TokenGrant:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if scopes:
            form["scope"] = " ".join(scopes)
        auth: tuple[str, str] | None = None
        if client_secret:
            auth = (client_id or "", client_secret)  # client_secret_basic
        elif client_id:
            form["client_id"] = client_id
        try:
            response = httpx.post(token_url, data=form, auth=auth, timeout=timeout_s,
                                  headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise CredentialUnavailable(f"the token endpoint {redact(token_url)} could not be "
                                        f"reached: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise CredentialUnavailable(f"the token endpoint {redact(token_url)} refused the "
                                        f"refresh: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise CredentialUnavailable(f"the token endpoint {redact(token_url)} answered "
                                        "something other than JSON") from None
        return grant_from_json(data, token_url)
