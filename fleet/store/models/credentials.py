"""Credentials of users for the blocks that call other services (SPEC §13).

The secret part (API key, password, access and refresh tokens, client secret)
is one Fernet token in ``secret``; every other column is metadata that may be
listed and logged.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from fleet.store.types import UTCDateTime, new_id


class Credential(SQLModel, table=True):
    """One credential of one user: ``api_key``, ``basic`` or ``oauth2``."""

    __tablename__ = "credentials"
    __table_args__ = (
        UniqueConstraint("user_id", "name", name="uq_credentials_user_name"),
        # expired_tokens reads through this one; rotate-key through the key id.
        Index("ix_credentials_kind_expires", "kind", "expires_at"),
        Index("ix_credentials_key_id", "key_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    user_id: str = Field(max_length=128)
    name: str = Field(max_length=128)
    kind: str = Field(max_length=16)  # api_key | basic | oauth2
    # Fernet token of the JSON secret payload, and which key of FLEET_SECRET_KEY made it.
    secret: str
    key_id: str = Field(max_length=32)
    username: str | None = Field(default=None, max_length=256)  # basic auth only
    token_url: str | None = Field(default=None, max_length=2048)  # oauth2 only
    client_id: str | None = Field(default=None, max_length=256)  # oauth2 only
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    refreshable: bool = False  # oauth2 with a refresh token and a token URL
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    last_refreshed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
