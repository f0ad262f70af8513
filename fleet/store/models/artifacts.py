"""Artifacts: files uploaded for runs or written by blocks, kept in fsspec storage (SPEC §13)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from fleet.store.types import UTCDateTime, new_id


class Artifact(SQLModel, table=True):
    """One stored file: who owns it, what it is, and until when it is kept."""

    __tablename__ = "artifacts"
    __table_args__ = (
        # expired_files pages through this one.
        Index("ix_artifacts_expires_id", "expires_at", "id"),
        Index("ix_artifacts_user_created", "user_id", "created_at"),
        Index("ix_artifacts_run_id", "run_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    user_id: str = Field(max_length=128)
    scope: str = Field(max_length=16)  # user | run | system
    run_id: str | None = Field(default=None, max_length=64)
    name: str = Field(max_length=256)
    content_type: str = Field(max_length=128)
    size: int
    sha256: str = Field(max_length=64)
    storage_key: str = Field(max_length=512)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # None: kept
    # A cleanup holds the rows it is deleting until then, so two never delete one file.
    cleanup_token: str | None = Field(default=None, max_length=64)
    cleanup_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
