"""Artifacts of a user: put, get, list, delete.

Every action takes a session and ``now`` and commits its own transaction.
Another user's artifact is answered exactly as a missing one ("refused,
nothing changed"). The file is written before its row (a failed write stores
nothing) and deleted before its row (a failed delete keeps both).
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import re
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from fleet.artifacts.storage import Storage
from fleet.errors import InvalidInput, NotFound
from fleet.settings import Settings
from fleet.store import artifacts as store
from fleet.store.models import Artifact
from fleet.store.types import new_id

log = logging.getLogger(__name__)

SCOPES = ("user", "run", "system")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}


def parse_duration(text: str) -> float:
    """Seconds of ``90m``, ``24h``, ``2d``, ``3600`` or ``3600s``; InvalidInput otherwise."""
    m = _DURATION.match(text or "")
    if not m:
        raise InvalidInput(f"'{text}' is not a duration",
                           [f"'{text}': use a number with s, m, h or d, e.g. 24h"])
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def ref(artifact: Artifact) -> dict[str, Any]:
    """The reference a graph input or a block output carries for an artifact."""
    return {"artifact": artifact.id, "name": artifact.name,
            "content_type": artifact.content_type, "size": artifact.size,
            "sha256": artifact.sha256}


def view(a: Artifact) -> dict[str, Any]:
    """What ``list`` shows of an artifact."""
    return {"id": a.id, "user_id": a.user_id, "scope": a.scope, "run_id": a.run_id,
            "name": a.name, "content_type": a.content_type, "size": a.size,
            "sha256": a.sha256, "created_at": a.created_at, "expires_at": a.expires_at}


def expiry(now: datetime, settings: Settings, scope: str,
           expires_in_s: float | None, problems: list[str]) -> datetime | None:
    """When an artifact of ``scope`` expires: none for system ones, else within the bounds."""
    if scope == "system":
        if expires_in_s is not None:
            problems.append("expires: system artifacts never expire; leave it out")
        return None
    seconds = settings.artifact_expiry_default_s if expires_in_s is None else expires_in_s
    low, high = settings.artifact_expiry_min_s, settings.artifact_expiry_max_s
    if not low <= seconds <= high:
        problems.append(f"expires: {seconds:g} s is outside {low:g}-{high:g} s "
                        f"({low / 3600:g} h to {high / 3600:g} h)")
        return None
    return now + timedelta(seconds=seconds)


def put(session: Session, now: datetime, *, storage: Storage, settings: Settings, user_id: str,
        name: str, data: bytes, content_type: str | None = None,
        expires_in_s: float | None = None, scope: str = "user",
        run_id: str | None = None) -> Artifact:
    """Store ``data`` as an artifact of ``user_id``; commits. InvalidInput lists every problem."""
    problems: list[str] = []
    if not user_id.strip():
        problems.append("user: a user id is required")
    if not name or len(name) > 256 or "/" in name or "\\" in name:
        problems.append("name: 1 to 256 characters without path separators")
    if scope not in SCOPES:
        problems.append(f"scope '{scope}' is unknown; use one of {', '.join(SCOPES)}")
    if scope == "run" and not run_id:
        problems.append("run: a run artifact needs its run id")
    if len(data) > settings.artifact_max_bytes:
        problems.append(f"size: {len(data)} bytes is over FLEET_ARTIFACT_MAX_BYTES "
                        f"({settings.artifact_max_bytes})")
    expires_at = expiry(now, settings, scope, expires_in_s, problems)
    if problems:
        session.rollback()
        raise InvalidInput("the artifact was not stored", problems)
    artifact_id = new_id()
    key = f"{artifact_id[:2]}/{artifact_id}"
    storage.put(key, data)
    artifact = Artifact(
        id=artifact_id, user_id=user_id, scope=scope, run_id=run_id, name=name,
        content_type=content_type or mimetypes.guess_type(name)[0] or "application/octet-stream",
        size=len(data), sha256=hashlib.sha256(data).hexdigest(), storage_key=key,
        created_at=now, expires_at=expires_at)
    try:
        store.add(session, artifact)
        session.commit()
    except BaseException:
        session.rollback()
        try:
            storage.delete(key)
        except Exception:  # the row was never written; an orphan file is harmless
            log.warning("artifact file %s left behind after a failed insert", key)
        raise
    return artifact


def owned(session: Session, user_id: str, artifact_id: str, now: datetime) -> Artifact:
    """The user's unexpired artifact; NotFound otherwise (also for another user's)."""
    found = store.get_owned(session, user_id, artifact_id)
    if found is None:
        session.rollback()
        raise NotFound(f"artifact {artifact_id} does not exist for user '{user_id}'; "
                       "see `fleet artifacts list`")
    if found.expires_at is not None and found.expires_at <= now:
        session.rollback()
        raise NotFound(f"artifact {artifact_id} expired at {found.expires_at.isoformat()}")
    return found


def get(session: Session, now: datetime, *, storage: Storage, user_id: str,
        artifact_id: str) -> tuple[Artifact, bytes]:
    """The user's artifact and its bytes."""
    artifact = owned(session, user_id, artifact_id, now)
    session.commit()  # ends the read; the row keeps its values (expire_on_commit=False)
    return artifact, storage.get(artifact.storage_key)


def list_artifacts(session: Session, user_id: str, *, run_id: str | None = None,
                   limit: int = 200) -> list[Artifact]:
    """The user's artifacts, newest first."""
    rows = store.list_for_user(session, user_id, run_id=run_id, limit=limit)
    session.commit()
    return rows


def delete(session: Session, now: datetime, *, storage: Storage, user_id: str,
           artifact_id: str) -> str:
    """Delete the user's artifact, file first; a refused file delete changes nothing."""
    found = store.get_owned(session, user_id, artifact_id)
    if found is None:
        session.rollback()
        raise NotFound(f"artifact {artifact_id} does not exist for user '{user_id}'; "
                       "see `fleet artifacts list`")
    session.commit()
    storage.delete(found.storage_key)
    store.delete_owned(session, user_id, artifact_id)
    session.commit()
    log.info("artifact %s (%s) deleted by %s at %s", artifact_id, found.name, user_id,
             now.isoformat())
    return artifact_id
