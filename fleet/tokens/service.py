"""API tokens: created once (the secret is shown then and never again), stored hashed,
listed and revoked by prefix, and turned back into a :class:`Principal` on each request.

A token reads ``fleet_<prefix>_<secret>``: the prefix finds the row, the SHA-256 of the
whole token must match the stored hash (tokens are 256 random bits, so a fast hash is
enough), and a revoked or expired token is refused like an unknown one.

Roles (SPEC §12): a viewer reads their own things, an operator also acts on them, an
admin reads and acts on everyone's. Services take ``user_id``: :meth:`Principal.scope`
is the value to pass (their own id, or None for an admin acting for everyone).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from fleet.errors import Ambiguous, InvalidInput, NotFound, Unauthenticated
from fleet.store import tokens as store
from fleet.store.db import begin_write
from fleet.store.models import ApiToken

ROLES: tuple[str, ...] = ("viewer", "operator", "admin")
TOKEN_PREFIX = "fleet_"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
TOUCH_EVERY_S = 300.0  # last_used_at is written at most this often per token


@dataclass(frozen=True)
class Principal:
    """Who is calling, as a token says."""

    user_id: str
    role: str
    token_id: str
    prefix: str
    expires_at: datetime | None = None

    @property
    def can_act(self) -> bool:
        """Operators and admins may act; viewers only read."""
        return self.role in ("operator", "admin")

    @property
    def is_admin(self) -> bool:
        """Admins see and act on everyone's objects."""
        return self.role == "admin"

    @property
    def scope(self) -> str | None:
        """The ``user_id`` to pass to services: None (everyone's) for an admin."""
        return None if self.is_admin else self.user_id


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``secret`` is the whole token, shown once."""

    secret: str
    row: ApiToken


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``45s``, ``2w`` as a duration (InvalidInput otherwise)."""
    m = _DURATION.match(text or "")
    if not m or float(m.group(1)) <= 0:
        raise InvalidInput(f"invalid duration '{text}'",
                           [f"expires: '{text}' is not a duration like 90d, 12h or 30m"])
    return timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2)])


def hash_token(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(secret: str) -> str | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    prefix, sep, rest = secret[len(TOKEN_PREFIX):].partition("_")
    return prefix if sep and prefix and rest else None


def create(session: Session, *, user_id: str, role: str, now: datetime,
           expires_in: timedelta | None, name: str = "") -> NewToken:
    """Create a token for ``user_id`` with ``role``; commits. The secret is in the answer
    only."""
    problems = []
    if not user_id or not user_id.strip() or len(user_id) > 128:
        problems.append("user: a user id of 1-128 characters is required")
    if role not in ROLES:
        problems.append(f"role: '{role}' is unknown; use one of {', '.join(ROLES)}")
    if len(name) > 256:
        problems.append("name: longer than 256 characters")
    if problems:
        raise InvalidInput("the token was not created", problems)
    for _ in range(5):  # a prefix collision (48 random bits) is retried, not reported
        prefix = secrets.token_hex(6)
        secret = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        row = ApiToken(prefix=prefix, token_hash=hash_token(secret), user_id=user_id,
                       role=role, name=name, created_at=now,
                       expires_at=(now + expires_in) if expires_in else None)
        try:
            store.add(session, row)
            session.commit()
        except IntegrityError:
            session.rollback()
            continue
        return NewToken(secret, row)
    raise InvalidInput("could not find a free token prefix; try again", ["prefix"])


def _usable(row: ApiToken | None, now: datetime) -> ApiToken | None:
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    return row


def _principal(row: ApiToken) -> Principal:
    return Principal(user_id=row.user_id, role=row.role, token_id=row.id, prefix=row.prefix,
                     expires_at=row.expires_at)


def authenticate(session: Session, secret: str, now: datetime) -> Principal:
    """The principal of a presented token, or Unauthenticated (unknown, revoked, expired).

    Records the use (at most every few minutes per token) and commits.
    """
    prefix = _split(secret.strip())
    row = _usable(store.by_prefix(session, prefix), now) if prefix else None
    if row is None or not hmac.compare_digest(row.token_hash, hash_token(secret.strip())):
        session.rollback()
        raise Unauthenticated("the API token is missing, unknown, revoked or expired; create "
                              "one with `fleet tokens create --user U --role ROLE`")
    principal = _principal(row)
    due = row.last_used_at is None or (now - row.last_used_at).total_seconds() >= TOUCH_EVERY_S
    session.commit()
    if due:
        # Its own short write (SQLite: a reader cannot safely turn writer); the condition is
        # repeated in the UPDATE, so concurrent requests write it once.
        begin_write(session, "record token use")
        store.touch(session, row.id, now, TOUCH_EVERY_S)
        session.commit()
    return principal


def principal_by_id(session: Session, token_id: str, now: datetime) -> Principal:
    """The principal of a token still valid (a dashboard session names its token), or
    Unauthenticated."""
    row = _usable(store.by_id(session, token_id), now)
    session.commit()
    if row is None:
        raise Unauthenticated("the session's token was revoked or has expired; sign in again")
    return _principal(row)


def list_tokens(session: Session, *, user_id: str | None = None) -> list[ApiToken]:
    """Tokens (of one user, or all), newest first; rows carry no secret, only its hash."""
    rows = store.list_tokens(session, user_id=user_id)
    session.commit()
    return rows


def revoke(session: Session, prefix: str, now: datetime) -> ApiToken:
    """Revoke the token whose prefix starts with ``prefix``; commits. Revoking twice is
    harmless."""
    prefix = prefix.strip()
    if prefix.startswith(TOKEN_PREFIX):  # a whole token (or its start) pasted
        prefix = prefix[len(TOKEN_PREFIX):].split("_", 1)[0]
    if len(prefix) < 4:
        raise InvalidInput("prefix too short", ["prefix: give at least 4 characters"])
    begin_write(session, "revoke token")
    found = store.starting_with(session, prefix)
    if not found:
        session.rollback()
        raise NotFound(f"no token has a prefix starting with '{prefix}'; see "
                       "`fleet tokens list`")
    if len(found) > 1:
        session.rollback()
        raise Ambiguous(f"prefix '{prefix}' matches several tokens",
                        [f"matches {t.prefix} ({t.user_id}, {t.role})" for t in found])
    store.revoke(session, found[0].id, now)
    session.commit()
    row = store.by_id(session, found[0].id)
    session.commit()
    assert row is not None
    return row
