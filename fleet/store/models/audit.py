"""The audit log: who did what to which object, when (SPEC §3, §12)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from fleet.store.types import BIG_SERIAL, UTCDateTime


class AuditEntry(SQLModel, table=True):
    """One action taken through the API, the dashboard or a batch operation."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_actor", "actor", "id"),
        Index("ix_audit_entries_owner", "target_user", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BIG_SERIAL, primary_key=True))
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=128)  # the user id acting
    role: str = Field(default="", max_length=16)
    via: str = Field(default="api", max_length=16)  # api | dashboard | cli
    action: str = Field(max_length=64)  # e.g. run.cancel, batch.cancel, schedule.pause
    target_kind: str = Field(default="", max_length=32)
    target_id: str | None = Field(default=None, max_length=256)
    target_user: str | None = Field(default=None, max_length=128)  # owner of the target
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
