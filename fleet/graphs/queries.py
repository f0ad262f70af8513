"""Reading graphs for the API and dashboard: keyset pages of active versions.

``user_id`` limits the answer to that user's graphs (None: an admin reading everyone's,
optionally narrowed to ``owner``). Graph ids are per owner, and nothing here tells one
user another user's ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from fleet.errors import InvalidInput
from fleet.store import keyset, pages
from fleet.store.models import Graph

MAX_LIMIT = 500


@dataclass
class GraphPage:
    """One page of graphs and the cursor of the next one."""

    graphs: list[Graph]
    next_cursor: str | None


def list_graphs(session: Session, *, user_id: str | None, owner: str | None = None,
                include_archived: bool = False, limit: int = 100,
                cursor: str | None = None) -> GraphPage:
    """Active versions of the graphs ``user_id`` may see (None: all, or ``owner``'s)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("invalid limit", [f"limit: must be 1-{MAX_LIMIT}, got {limit}"])
    if user_id is not None and owner not in (None, user_id):
        session.commit()
        return GraphPage([], None)
    after = None
    if cursor:
        at, who, gid = keyset.decode(cursor, 3)
        if not isinstance(at, datetime) or not isinstance(who, str) or not isinstance(gid, str):
            raise InvalidInput("invalid cursor", ["cursor: not a cursor returned by this list"])
        after = (at, who, gid)
    rows = pages.graphs(session, user_id=user_id if user_id is not None else owner,
                        include_archived=include_archived, limit=limit + 1, after=after)
    session.commit()
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return GraphPage(rows, keyset.encode(last.updated_at, last.user_id, last.id)
                     if more and last else None)
