"""An OAuth2 token endpoint in memory: the double of ``fleet.vault.oauth.HttpTokenEndpoint``."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from fleet.errors import CredentialUnavailable
from fleet.vault.oauth import TokenGrant


@dataclass(frozen=True)
class RefreshCall:
    """One refresh the endpoint was asked for."""

    token_url: str
    refresh_token: str
    client_id: str | None
    client_secret: str | None


class FakeTokenEndpoint:
    """Grants ``access-N`` tokens (``expires_in_s`` each) and records every call.

    ``refuse=True`` answers like a provider that revoked the refresh token;
    ``rotate=True`` also hands out a new refresh token each time.
    """

    def __init__(self, expires_in_s: float = 3600.0, *, refuse: bool = False,
                 rotate: bool = False) -> None:
        self.expires_in_s = expires_in_s
        self.refuse = refuse
        self.rotate = rotate
        self.calls: list[RefreshCall] = []
        self._n = itertools.count(1)
        self._lock = threading.Lock()

    def refresh(self, token_url: str, *, refresh_token: str, client_id: str | None,
                client_secret: str | None, scopes: list[str], timeout_s: float) -> TokenGrant:
        with self._lock:
            self.calls.append(RefreshCall(token_url, refresh_token, client_id, client_secret))
            n = next(self._n)
        if self.refuse:
            raise CredentialUnavailable(f"the token endpoint {token_url} refused the refresh: "
                                        "HTTP 400 (FakeTokenEndpoint.refuse is set)")
        return TokenGrant(access_token=f"access-token-{n:04d}", expires_in_s=self.expires_in_s,
                          refresh_token=f"refresh-token-{n:04d}" if self.rotate else None)
