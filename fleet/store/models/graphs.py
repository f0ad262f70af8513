"""Versioned graphs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from fleet.store.types import UTCDateTime


class Graph(SQLModel, table=True):
    """One version of a user's graph; ``(user_id, id, version)`` is the key.

    Graph ids are per owner: two users can each have a graph ``hello``.
    """

    __tablename__ = "graphs"
    __table_args__ = (Index("ix_graphs_user_active", "user_id", "is_active", "updated_at"),)

    user_id: str = Field(primary_key=True, max_length=128)
    id: str = Field(primary_key=True, max_length=128)
    version: int = Field(primary_key=True)
    name: str = Field(max_length=256)
    description: str = ""
    definition: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    timeout_s: float = 7200.0
    max_attempts: int = 3
    # The graph's current version has is_active; older versions keep their rows.
    is_active: bool = True
    is_archived: bool = False
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
