"""A credential decrypted for one block's execution, refreshed first when it must be.

:class:`CredentialResolver` is what the run lifecycle lends a run's blocks
(``ctx.credential(pin)``): it reads the credential of the run's owner,
decrypts it, refreshes an OAuth2 access token about to expire through the
provider's token URL (storing the new token encrypted, without losing a
concurrent refresh), and hands every form of the secret to ``on_secret`` so
the run masks it wherever it could surface.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from fleet.engine.credentials import CredentialValue
from fleet.errors import CredentialUnavailable, NotFound
from fleet.settings import Settings
from fleet.store import credentials as store
from fleet.store.db import begin_write
from fleet.store.models import Credential
from fleet.vault.keys import Keyring
from fleet.vault.kinds import OAUTH2, PRIMARY_FIELD, secret_forms
from fleet.vault.oauth import TokenEndpoint

log = logging.getLogger(__name__)


def needs_refresh(c: Credential, now: datetime, skew_s: float) -> bool:
    """Whether an OAuth2 access token expires within ``skew_s`` (other kinds: never)."""
    return (c.kind == OAUTH2 and c.expires_at is not None
            and c.expires_at <= now + timedelta(seconds=skew_s))


def expired(c: Credential, now: datetime) -> bool:
    """Whether the credential is past its expiry."""
    return c.expires_at is not None and c.expires_at <= now


class CredentialResolver:
    """Decrypts (and refreshes) one user's credentials for the blocks of one run."""

    def __init__(self, open_session: Callable[[], Session], *, user_id: str,
                 settings: Settings, clock: Callable[[], datetime], endpoint: TokenEndpoint,
                 on_secret: Callable[[list[str]], None]) -> None:
        self.open_session = open_session
        self.user_id = user_id
        self.settings = settings
        self.clock = clock
        self.endpoint = endpoint
        self.on_secret = on_secret
        self._keyring: Keyring | None = None

    @property
    def keyring(self) -> Keyring:
        """The keyring of the settings (built on first use: runs without credentials need none)."""
        if self._keyring is None:
            self._keyring = Keyring.from_settings(self.settings)
        return self._keyring

    def __call__(self, node_id: str, pin: str, credential_id: str) -> CredentialValue:
        where = f"node '{node_id}' input '{pin}'"
        with self.open_session() as session:
            # Closing (not rolling back) keeps the row's loaded values for use below.
            c = store.get_many_owned(session, self.user_id, [credential_id]).get(credential_id)
        if c is None:
            raise NotFound(f"{where}: credential '{credential_id}' does not exist for user "
                           f"'{self.user_id}'")
        payload = self._open(c, where)
        now = self.clock()
        if needs_refresh(c, now, self.settings.oauth_refresh_skew_s):
            if not c.refreshable:
                raise CredentialUnavailable(
                    f"{where}: OAuth2 credential '{c.name}' expired at "
                    f"{c.expires_at.isoformat() if c.expires_at else '?'} and has no refresh "
                    "token; add it again")
            payload = self._refresh(c, payload, now, where)
        elif expired(c, now):
            raise CredentialUnavailable(
                f"{where}: credential '{c.name}' expired at "
                f"{c.expires_at.isoformat() if c.expires_at else '?'}; add a new one")
        return CredentialValue(id=c.id, kind=c.kind, secret=str(payload[PRIMARY_FIELD[c.kind]]),
                               username=c.username)

    def _open(self, c: Credential, where: str) -> dict[str, Any]:
        payload = self.keyring.decrypt(c.secret, what=f"{where}: credential '{c.name}'")
        self.on_secret(secret_forms(c.kind, payload, username=c.username,
                                    client_id=c.client_id))
        return payload

    def _refresh(self, c: Credential, payload: dict[str, Any], now: datetime,
                 where: str) -> dict[str, Any]:
        assert c.token_url is not None
        try:
            grant = self.endpoint.refresh(
                c.token_url, refresh_token=str(payload.get("refresh_token") or ""),
                client_id=c.client_id, client_secret=payload.get("client_secret"),
                scopes=list(c.scopes or []), timeout_s=self.settings.oauth_timeout_s)
        except CredentialUnavailable as exc:
            raise CredentialUnavailable(f"{where}: refreshing OAuth2 credential '{c.name}' "
                                        f"failed: {exc.message}") from None
        fresh = {**payload, "access_token": grant.access_token}
        if grant.refresh_token:
            fresh["refresh_token"] = grant.refresh_token
        self.on_secret(secret_forms(c.kind, fresh, client_id=c.client_id))
        expires_at = (now + timedelta(seconds=grant.expires_in_s)
                      if grant.expires_in_s is not None else None)
        ciphertext, key = self.keyring.encrypt(fresh)
        values: dict[str, Any] = {"expires_at": expires_at, "updated_at": now,
                                  "last_refreshed_at": now}
        if grant.scopes is not None:
            values["scopes"] = list(grant.scopes)
        with self.open_session() as session:
            begin_write(session, "credential refresh")
            won = store.replace_secret(session, c.id, old_secret=c.secret, secret=ciphertext,
                                       key_id=key, values=values)
            session.commit()
            if won:
                log.info("credential %s (%s): access token refreshed", c.id, c.name)
                return fresh
            # Another execution refreshed it first: use the token it stored.
            latest = store.get_many_owned(session, self.user_id, [c.id]).get(c.id)
        if latest is None:
            raise NotFound(f"{where}: credential '{c.id}' was deleted while it was refreshed")
        return self._open(latest, where)
