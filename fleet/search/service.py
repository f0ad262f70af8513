"""A search: the database's full-text ranking, blended with recency.

The query's words must all match (as prefixes, stemmed). The best
``search_candidates`` matches by full-text relevance are re-ranked by
``relevance * (1 + weight * 0.5 ** (age_days / half_life_days))``: a newer
graph or page wins between two equally relevant ones, and an old one keeps
its relevance. A user sees their own graphs and every block and page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.errors import InvalidInput
from fleet.search.sources import KINDS
from fleet.settings import Settings
from fleet.store import search as store

MAX_TOKENS = 16
SNIPPET_CHARS = 160
_TOKEN = re.compile(r"[^\W_]+")


def tokens(query: str) -> list[str]:
    """The words of a query, lower-cased (punctuation and underscores split words)."""
    return _TOKEN.findall(query.lower())[:MAX_TOKENS]


def recency_factor(updated_at: datetime | None, now: datetime, *, weight: float,
                   half_life_days: float) -> float:
    """``1 + weight * 0.5 ** (age / half-life)``; 1 for sources without a date."""
    if updated_at is None or weight <= 0:
        return 1.0
    age_days = max(0.0, (now - updated_at).total_seconds() / 86_400)
    return 1.0 + weight * 0.5 ** (age_days / half_life_days)


def snippet(body: str, words: list[str]) -> str:
    """A short excerpt of ``body`` around the first word of the query it contains."""
    text = " ".join(body.split())
    lower = text.lower()
    at = min((i for i in (lower.find(w) for w in words) if i >= 0), default=0)
    start = max(0, at - SNIPPET_CHARS // 3)
    piece = text[start:start + SNIPPET_CHARS]
    return ("…" if start else "") + piece + ("…" if start + SNIPPET_CHARS < len(text) else "")


@dataclass(frozen=True)
class Hit:
    """One search result."""

    kind: str
    id: str  # graph id, block id or page path
    source_id: str
    title: str
    snippet: str
    score: float
    relevance: float
    updated_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` and the API."""
        return {"kind": self.kind, "id": self.id, "source_id": self.source_id,
                "title": self.title, "snippet": self.snippet, "score": round(self.score, 6),
                "relevance": round(self.relevance, 6),
                "updated_at": self.updated_at.isoformat() if self.updated_at else None}


def search(session: Session, now: datetime, *, settings: Settings, user_id: str, query: str,
           kind: str | None = None, limit: int = 20) -> list[Hit]:
    """The best ``limit`` hits for ``query`` (of one ``kind``, or all) that ``user_id`` may see."""
    words = tokens(query)
    problems = []
    if not words:
        problems.append("query: give at least one word to look for")
    if kind is not None and kind not in KINDS:
        problems.append(f"kind '{kind}' is unknown; use one of {', '.join(KINDS)}")
    if not 1 <= limit <= 100:
        problems.append(f"limit must be 1-100, got {limit}")
    if problems:
        raise InvalidInput("the search was not run", problems)
    matches = store.match(session, words, user_id=user_id, kind=kind,
                          limit=max(limit, settings.search_candidates))
    session.commit()
    hits = [Hit(kind=m.kind, id=m.source_id.split("/", 1)[1] if m.kind == "graph"
                else m.source_id, source_id=m.source_id, title=m.title,
                snippet=snippet(m.body, words),
                score=m.relevance * recency_factor(
                    m.source_updated_at, now, weight=settings.search_recency_weight,
                    half_life_days=settings.search_recency_half_life_days),
                relevance=m.relevance, updated_at=m.source_updated_at)
            for m in matches]
    hits.sort(key=lambda h: (-h.score, h.kind, h.source_id))
    return hits[:limit]
