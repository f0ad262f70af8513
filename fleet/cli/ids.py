"""Ids on the command line: a full id or a unique prefix of one (as git does).

A prefix is looked up among the acting user's own objects only (an
operator's: everyone's), so it never reveals another user's ids; a prefix of
several ids is refused naming them (``Ambiguous``), and none answers exactly
like a missing id.
"""

from __future__ import annotations

from sqlmodel import Session

from fleet.errors import Ambiguous, InvalidInput, NotFound
from fleet.store import lookup

MIN_PREFIX = 4
SHOWN = 8

LIST_COMMAND = {"run": "fleet runs list", "schedule": "fleet schedules list",
                "credential": "fleet credentials list", "artifact": "fleet artifacts list"}


def not_found(kind: str, ref: str, user_id: str | None) -> NotFound:
    """The one answer for a missing id and for another user's id."""
    return NotFound(f"{kind} {ref} does not exist"
                    + (f" for user '{user_id}'" if user_id is not None else "")
                    + f"; `{LIST_COMMAND.get(kind, 'fleet ' + kind + 's list')}` shows the ids")


def resolve(session: Session, kind: str, ref: str, user_id: str | None) -> str:
    """The full id of ``kind`` named by ``ref`` (a full id or a unique prefix).

    ``user_id`` limits the search to that user's objects (None: an operator).
    """
    ref = ref.strip()
    if not ref:
        raise InvalidInput(f"a {kind} id is required", [f"give a {kind} id or a prefix of one"])
    found = lookup.ids_with_prefix(session, kind, ref, user_id=user_id, limit=SHOWN + 1)
    session.commit()
    if ref in found:
        return ref
    if not found:
        raise not_found(kind, ref, user_id)
    if len(ref) < MIN_PREFIX:
        raise InvalidInput(f"{kind} id prefix '{ref}' is too short",
                           [f"give at least {MIN_PREFIX} characters of the id"])
    if len(found) > 1:
        more = " (and more)" if len(found) > SHOWN else ""
        raise Ambiguous(f"{kind} id prefix '{ref}' matches several {kind}s{more}; give more "
                        "characters", [f"{kind} {i}" for i in found[:SHOWN]])
    return found[0]
