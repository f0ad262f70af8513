"""The last run of each system job: what the operator (and the scheduler watch) reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from fleet.store.types import UTCDateTime


class SystemJob(SQLModel, table=True):
    """One row per system job (by name), updated at each start and end of the job."""

    __tablename__ = "system_jobs"

    name: str = Field(primary_key=True, max_length=64)
    last_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_outcome: str | None = Field(default=None, max_length=16)  # ok | error | skipped
    last_duration_s: float | None = None
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None
    last_report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    runs_total: int = 0
    errors_total: int = 0
    skipped_total: int = 0
