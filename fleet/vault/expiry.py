"""The vault's half of the ``expired_tokens`` job: one expirer per credential kind.

An expirer is ``(kind, delete_expired(session, now, limit) -> int)``; the job
runs each in committed batches and reports the counts by kind. API tokens
(SPEC §12) are one more expirer of the same shape, added to
``fleet.sweeps.expired_tokens.EXPIRERS`` where the tokens store exists.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from fleet.engine.credentials import KINDS
from fleet.store import credentials as store

DeleteExpired = Callable[[Session, datetime, int], int]
Expirer = tuple[str, DeleteExpired]


def _for_kind(kind: str) -> DeleteExpired:
    def delete_expired(session: Session, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` credentials of this kind past expiry (OAuth2: unrefreshable)."""
        return store.delete_ids(session, store.expired_ids(session, kind, now, limit))
    delete_expired.__name__ = f"delete_expired_{kind}"
    return delete_expired


def credential_expirers() -> list[Expirer]:
    """``("credential:KIND", delete_expired)`` for every credential kind."""
    return [(f"credential:{kind}", _for_kind(kind)) for kind in KINDS]
