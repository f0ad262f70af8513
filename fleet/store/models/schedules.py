"""User schedules and the record of what each fire did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from fleet.store.types import UTCDateTime, new_id


class Schedule(SQLModel, table=True):
    """A cron schedule of a graph in its owner's timezone."""

    __tablename__ = "schedules"
    __table_args__ = (
        # the dispatcher reads due schedules in this order (ORDER BY next_run_at, id LIMIT n)
        Index("ix_schedules_due", "paused", "next_run_at", "id"),
        Index("ix_schedules_graph_id", "graph_id"),
        # Only the few schedules holding a buffered fire, in the order the dispatcher reads
        # them. (Each fire updates next_run_at, an indexed column: the update enters every
        # index, so the schedules table keeps as few as its queries need; by owner, the
        # lists read ix_schedules_user_created.)
        Index("ix_schedules_buffered", "id", postgresql_where=text("buffered_for IS NOT NULL"),
              sqlite_where=text("buffered_for IS NOT NULL")),
        # The API's and dashboard's schedule lists, keyset-paginated on (created_at, id).
        Index("ix_schedules_created", "created_at", "id"),
        Index("ix_schedules_user_created", "user_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    user_id: str = Field(max_length=128)
    graph_id: str = Field(max_length=128)
    graph_version: int | None = None  # None: the graph's active version at fire time
    name: str = Field(default="", max_length=256)
    cron: str = Field(max_length=256)
    timezone: str = Field(default="UTC", max_length=64)
    input_data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Credential ids and metadata only, never secrets.
    credential_refs: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    next_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_fired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    paused: bool = False
    paused_reason: str | None = None
    overlap_policy: str = Field(default="skip", max_length=32)
    catchup_policy: str = Field(default="latest", max_length=32)
    catchup_window_s: float = 3600.0
    # overlap "buffer_one": the one instant held back until the active run ends.
    buffered_for: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ScheduleFire(SQLModel, table=True):
    """What happened at one scheduled instant: fired, missed, skipped or failed."""

    __tablename__ = "schedule_fires"
    __table_args__ = (
        UniqueConstraint("schedule_id", "scheduled_for", "outcome", name="uq_schedule_fires"),
        Index("ix_schedule_fires_schedule_at", "schedule_id", "scheduled_for"),
        Index("ix_schedule_fires_at", "at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    schedule_id: str = Field(max_length=64)
    scheduled_for: datetime = Field(sa_type=UTCDateTime)
    outcome: str = Field(max_length=16)  # fired | missed | skipped | failed
    run_id: str | None = Field(default=None, max_length=64)
    detail: str | None = None
    at: datetime = Field(sa_type=UTCDateTime)
