"""The search index: one entry per graph, block and documentation page (SPEC §13).

The full-text index itself is not a model column: the migration adds a
generated ``tsvector`` column with a GIN index on PostgreSQL and an FTS5
table kept in step by triggers on SQLite (see :mod:`fleet.store.search`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from fleet.store.types import UTCDateTime


class SearchEntry(SQLModel, table=True):
    """The indexed text of one source, keyed by ``(kind, source_id)`` with the text's hash."""

    __tablename__ = "search_entries"
    __table_args__ = (
        UniqueConstraint("kind", "source_id", name="uq_search_entries_source"),
        Index("ix_search_entries_user", "user_id"),
    )

    # An integer key: SQLite's FTS5 table points at entries by rowid.
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # graph | block | doc
    source_id: str = Field(max_length=300)
    user_id: str | None = Field(default=None, max_length=128)  # None: visible to everyone
    title: str = Field(max_length=300)
    body: str = ""
    text_hash: str = Field(max_length=64)
    source_updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    indexed_at: datetime = Field(sa_type=UTCDateTime)
