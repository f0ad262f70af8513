"""Worker processes (runtimes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from fleet.store.types import UTCDateTime, new_id


class Runtime(SQLModel, table=True):
    """One worker process of the fleet."""

    __tablename__ = "runtimes"
    __table_args__ = (
        Index("ix_runtimes_status_last_seen", "status", "last_seen_at"),
        Index("ix_runtimes_status_offline", "status", "offline_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    hostname: str = Field(max_length=256)
    pid: int
    name: str = Field(default="", max_length=256)
    queues: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    concurrency: int = 1
    version: str = Field(default="", max_length=64)
    status: str = Field(default="online", max_length=16)  # online | offline
    registered_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    offline_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    info: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
