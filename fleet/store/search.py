"""Queries on the search index. Nothing here commits.

Ranking is the database's own full-text search: PostgreSQL matches the
generated ``search_vector`` (GIN index) and ranks with ``ts_rank_cd``; SQLite
matches the FTS5 table ``search_fts`` and ranks with ``bm25`` (title weighted
over body). Both answer a relevance where larger is better; the caller blends
it with recency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select, text
from sqlmodel import Session, col

from fleet.store.db import upsert_insert
from fleet.store.fulltext import PG_VECTOR_COLUMN, SQLITE_FTS_TABLE
from fleet.store.models import SearchEntry
from fleet.store.types import UTCDateTime

TITLE_WEIGHT = 10.0  # SQLite bm25 column weights; PostgreSQL weighs title 'A', body 'B'
BODY_WEIGHT = 1.0


@dataclass(frozen=True)
class Match:
    """One full-text match: the entry's fields and its relevance (larger is better)."""

    kind: str
    source_id: str
    user_id: str | None
    title: str
    body: str
    source_updated_at: datetime | None
    relevance: float


def _dialect(session: Session) -> str:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return engine.dialect.name


def hashes(session: Session, kind: str) -> dict[str, str]:
    """``source_id -> text_hash`` of every entry of ``kind`` (one scan)."""
    stmt = select(col(SearchEntry.source_id), col(SearchEntry.text_hash)).where(
        col(SearchEntry.kind) == kind)
    return {sid: h for sid, h in session.execute(stmt).all()}


def upsert(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert or refresh entries by ``(kind, source_id)``; rows written."""
    if not rows:
        return 0
    stmt = upsert_insert(session, SearchEntry.__table__)  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(
        index_elements=["kind", "source_id"],
        set_={k: getattr(stmt.excluded, k) for k in
              ("user_id", "title", "body", "text_hash", "source_updated_at", "indexed_at")})
    session.execute(stmt, list(rows))
    return len(rows)


def delete_sources(session: Session, kind: str, source_ids: Sequence[str]) -> int:
    """Delete the entries of ``kind`` for ``source_ids``; rows deleted."""
    if not source_ids:
        return 0
    result = session.execute(delete(SearchEntry).where(
        col(SearchEntry.kind) == kind, col(SearchEntry.source_id).in_(list(source_ids))))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def count_by_kind(session: Session) -> dict[str, int]:
    """Entries per kind."""
    stmt = select(col(SearchEntry.kind), func.count()).group_by(col(SearchEntry.kind))
    return {k: int(n) for k, n in session.execute(stmt).all()}


def _filters(user_id: str, kind: str | None) -> tuple[str, dict[str, Any]]:
    where = "(e.user_id IS NULL OR e.user_id = :user_id)"
    params: dict[str, Any] = {"user_id": user_id}
    if kind is not None:
        where += " AND e.kind = :kind"
        params["kind"] = kind
    return where, params


def match(session: Session, tokens: Sequence[str], *, user_id: str, kind: str | None,
          limit: int) -> list[Match]:
    """The best ``limit`` entries for ``tokens`` (every token must match, as a prefix).

    Entries without an owner (blocks, docs) are everyone's; a graph entry only
    its owner's.
    """
    if not tokens:
        return []
    where, params = _filters(user_id, kind)
    params["limit"] = limit
    if _dialect(session) == "postgresql":
        params["q"] = " & ".join(f"{t}:*" for t in tokens)
        sql = (f"SELECT e.kind, e.source_id, e.user_id, e.title, e.body, e.source_updated_at, "
               f"ts_rank_cd(e.{PG_VECTOR_COLUMN}, q) AS relevance "
               f"FROM search_entries e, to_tsquery('english', :q) q "
               f"WHERE e.{PG_VECTOR_COLUMN} @@ q AND {where} "
               f"ORDER BY relevance DESC, e.id LIMIT :limit")
    else:
        params["q"] = " ".join(f'"{t}"*' for t in tokens)
        rank = f"bm25({SQLITE_FTS_TABLE}, {TITLE_WEIGHT}, {BODY_WEIGHT})"
        sql = (f"SELECT e.kind, e.source_id, e.user_id, e.title, e.body, e.source_updated_at, "
               f"-{rank} AS relevance "
               f"FROM {SQLITE_FTS_TABLE} JOIN search_entries e "
               f"ON e.id = {SQLITE_FTS_TABLE}.rowid "
               f"WHERE {SQLITE_FTS_TABLE} MATCH :q AND {where} "
               f"ORDER BY {rank}, e.id LIMIT :limit")
    as_utc = UTCDateTime()
    dialect = session.get_bind().dialect
    return [Match(kind=r[0], source_id=r[1], user_id=r[2], title=r[3], body=r[4],
                  source_updated_at=as_utc.process_result_value(r[5], dialect),
                  relevance=float(r[6] or 0.0))
            for r in session.execute(text(sql), params).all()]
