"""API tokens: stored hashed, listed by prefix, revocable (SPEC §12)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from fleet.store.types import UTCDateTime, new_id


class ApiToken(SQLModel, table=True):
    """One API token of one user with one role; only its hash is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user", "user_id", "created_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    # The public part of the token (``fleet_<prefix>_<secret>``): shown in lists, used to revoke.
    prefix: str = Field(max_length=32, unique=True)
    token_hash: str = Field(max_length=64)  # sha256 of the whole token, hex
    user_id: str = Field(max_length=128)
    role: str = Field(max_length=16)  # viewer | operator | admin
    name: str = Field(default="", max_length=256)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
