"""Credentials of a user: add, list, delete, and re-encrypt them all with the newest key.

Every action takes a session and ``now``, commits its own transaction and
changes nothing when it raises. Another user's credential is answered exactly
as a missing one. Secrets go in encrypted and never come out of here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from sqlmodel import Session

from fleet.engine.credentials import KINDS
from fleet.errors import DecryptionFailed, InvalidInput, NotFound
from fleet.settings import Settings
from fleet.store import credentials as store
from fleet.store.db import begin_write
from fleet.store.models import Credential
from fleet.vault.keys import Keyring
from fleet.vault.kinds import BASIC, OAUTH2, payload_problems

log = logging.getLogger(__name__)


def view(c: Credential) -> dict[str, Any]:
    """What may be shown of a credential: everything but the secret."""
    return {"id": c.id, "name": c.name, "kind": c.kind, "user_id": c.user_id,
            "username": c.username, "token_url": c.token_url, "client_id": c.client_id,
            "scopes": list(c.scopes or []), "refreshable": c.refreshable,
            "expires_at": c.expires_at, "created_at": c.created_at, "updated_at": c.updated_at,
            "key_id": c.key_id}


def _url_ok(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _problems(session: Session, *, user_id: str, name: str, kind: str, secret: dict[str, Any],
              username: str | None, token_url: str | None, now: datetime,
              expires_at: datetime | None) -> list[str]:
    problems: list[str] = []
    if not user_id.strip():
        problems.append("user: a user id is required")
    if not name.strip() or len(name) > 128:
        problems.append("name: 1 to 128 characters are required")
    elif store.get_owned(session, user_id, name) is not None:
        problems.append(f"name: user '{user_id}' already has a credential called '{name}' "
                        "(delete it first, or choose another name)")
    if kind not in KINDS:
        return [*problems, f"kind '{kind}' is unknown; use one of {', '.join(KINDS)}"]
    problems += payload_problems(kind, secret)
    if kind == BASIC and not username:
        problems.append("username: basic credentials need a username")
    if kind != BASIC and username:
        problems.append(f"username: only basic credentials have one, not {kind}")
    if kind == OAUTH2 and secret.get("refresh_token") and not token_url:
        problems.append("token_url: an OAuth2 credential with a refresh token needs the "
                        "provider's token URL")
    if token_url and (kind != OAUTH2 or not _url_ok(token_url)):
        problems.append("token_url: an http(s) URL, for OAuth2 credentials only")
    if expires_at is not None and expires_at <= now:
        problems.append(f"expires_at: {expires_at.isoformat()} is already past")
    return problems


def add(session: Session, now: datetime, *, settings: Settings, user_id: str, name: str,
        kind: str, secret: dict[str, Any], username: str | None = None,
        token_url: str | None = None, client_id: str | None = None,
        scopes: list[str] | None = None, expires_at: datetime | None = None) -> Credential:
    """Encrypt and store a credential for ``user_id``; commits.

    ``secret`` holds the kind's secret fields (``key``; ``password``;
    ``access_token`` and optionally ``refresh_token``, ``client_secret``).
    InvalidInput lists every problem, and nothing is stored then.
    """
    keyring = Keyring.from_settings(settings)  # no key: refused before anything is read
    problems = _problems(session, user_id=user_id, name=name, kind=kind, secret=secret,
                         username=username, token_url=token_url, now=now,
                         expires_at=expires_at)
    if problems:
        session.rollback()
        raise InvalidInput("the credential was not added", problems)
    payload = {k: v for k, v in secret.items() if v}
    ciphertext, key = keyring.encrypt(payload)
    credential = Credential(
        user_id=user_id, name=name, kind=kind, secret=ciphertext, key_id=key,
        username=username, token_url=token_url, client_id=client_id, scopes=list(scopes or []),
        refreshable=bool(kind == OAUTH2 and payload.get("refresh_token") and token_url),
        expires_at=expires_at, created_at=now, updated_at=now)
    try:
        store.add(session, credential)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    log.info("credential %s (%s, %s) added by %s", credential.id, name, kind, user_id)
    return credential


def list_credentials(session: Session, user_id: str) -> list[Credential]:
    """The user's credentials (metadata only), by name."""
    rows = store.list_for_user(session, user_id)
    session.commit()
    return rows


def get(session: Session, user_id: str, ref: str) -> Credential:
    """The user's credential by id or name; NotFound otherwise (also for another user's)."""
    found = store.get_owned(session, user_id, ref)
    if found is None:
        session.rollback()
        raise NotFound(f"credential '{ref}' does not exist for user '{user_id}'; "
                       "see `fleet credentials list`")
    return found


def delete(session: Session, user_id: str, ref: str) -> str:
    """Delete the user's credential (by id or name); its id. Commits."""
    credential = get(session, user_id, ref)
    store.delete_id(session, user_id, credential.id)
    session.commit()
    log.info("credential %s (%s) deleted by %s", credential.id, credential.name, user_id)
    return credential.id


@dataclass
class RotateReport:
    """What one rotate-key pass did."""

    key_id: str
    rotated: int = 0
    batches: int = 0
    failed: list[str] = field(default_factory=list)  # ids no key could open

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {"key_id": self.key_id, "rotated": self.rotated, "batches": self.batches,
                "failed": list(self.failed)}


def rotate(session: Session, now: datetime, *, settings: Settings,
           batch: int | None = None) -> RotateReport:
    """Re-encrypt every credential with the newest key, one committed batch at a time.

    A credential no key opens is reported and left as it is. Afterwards the
    older keys may be removed from FLEET_SECRET_KEY.
    """
    keyring = Keyring.from_settings(settings)
    size = batch or settings.credential_rotate_batch
    report = RotateReport(key_id=keyring.primary_id)
    if session.in_transaction():
        session.rollback()
    after = ""
    while True:
        begin_write(session, "rotate-key")
        rows = store.not_under_key(session, keyring.primary_id, after, size)
        if not rows:
            session.commit()
            return report
        for c in rows:
            try:
                ciphertext = keyring.rotate(c.secret, what=f"credential {c.id}")
            except DecryptionFailed:
                report.failed.append(c.id)
                log.error("credential %s (%s of %s) cannot be decrypted with any key; left "
                          "as it is", c.id, c.name, c.user_id)
                continue
            if store.replace_secret(session, c.id, old_secret=c.secret, secret=ciphertext,
                                    key_id=keyring.primary_id, values={"updated_at": now}):
                report.rotated += 1
        after = rows[-1].id
        session.commit()
        report.batches += 1
