"""Idempotency keys of run submissions: the same key twice gives one run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from fleet.store.types import UTCDateTime


class IdempotencyKey(SQLModel, table=True):
    """A user's ``Idempotency-Key`` and the run it created (pruned with the run)."""

    __tablename__ = "idempotency_keys"

    user_id: str = Field(primary_key=True, max_length=128)
    key: str = Field(primary_key=True, max_length=255)
    run_id: str = Field(
        sa_column=Column(String(64), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False,
                         index=True)
    )
    request_hash: str = Field(max_length=64)  # sha256 of the request: a reused key must match
    created_at: datetime = Field(sa_type=UTCDateTime)
