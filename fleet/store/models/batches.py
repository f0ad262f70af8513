"""Batch operations on runs (cancel or retry everything matching a filter)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from fleet.store.types import UTCDateTime, new_id


class BatchOperation(SQLModel, table=True):
    """One batch operation and its progress, updated after every committed batch."""

    __tablename__ = "batch_operations"
    __table_args__ = (Index("ix_batch_operations_user", "user_id", "created_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    user_id: str = Field(max_length=128)  # who started it
    scope_user: str | None = Field(default=None, max_length=128)  # whose runs; None: everyone's
    action: str = Field(max_length=16)  # cancel | retry
    filter: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="running", max_length=16)  # running | done | failed
    expected: int = 0  # the count when it started (capped like every count)
    processed: int = 0  # runs examined
    changed: int = 0  # runs cancelled (or flagged) / retried
    skipped: int = 0  # runs that had moved on meanwhile or were already handled
    error: str | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
