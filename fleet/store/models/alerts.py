"""Alerts (one row per incident) and per-user notification settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from fleet.store.types import UTCDateTime, new_id


class Alert(SQLModel, table=True):
    """One alert incident, deduplicated by ``(kind, fingerprint)``."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("kind", "fingerprint", name="uq_alerts_kind_fingerprint"),
        Index("ix_alerts_state", "state", "last_sent_at"),
        Index("ix_alerts_pending", "pending_delivery", "next_attempt_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    kind: str = Field(max_length=64)
    fingerprint: str = Field(max_length=128)
    tag: str = Field(default="ops", max_length=64)
    user_id: str | None = Field(default=None, max_length=128)
    state: str = Field(default="firing", max_length=16)  # firing | resolved | notice
    message: str = ""
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    last_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # last success
    # When the last notification was queued: reminders are counted from here.
    last_queued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    send_count: int = 0
    delivery_ok: bool | None = None
    delivery_result: str | None = None
    pending_delivery: bool = False  # some destination of the last notification is not done
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # unused (0001)
    resolved_message: str | None = None


class NotificationSetting(SQLModel, table=True):
    """Where a user's own notifications go, and whether they want the weekly summary."""

    __tablename__ = "notification_settings"

    user_id: str = Field(primary_key=True, max_length=128)
    urls: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    weekly_summary: bool = True
    updated_at: datetime = Field(sa_type=UTCDateTime)


class AlertDelivery(SQLModel, table=True):
    """One notification of an alert to one destination URL, retried on its own.

    A notification (``send_count`` of the alert) fans out to one row per
    destination; a failed destination is retried with capped backoff without
    re-sending to the destinations that already accepted it, and is given up
    after ``alert_give_up_s``.
    """

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "send_count", "destination",
                         name="uq_alert_deliveries_dest"),
        Index("ix_alert_deliveries_due", "state", "next_attempt_at"),
        # /metrics counts deliveries by outcome as they are attempted.
        Index("ix_alert_deliveries_attempted", "last_attempt_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    alert_id: str = Field(max_length=64, index=True)
    send_count: int  # which notification of the alert this delivers
    destination: str = Field(max_length=64)  # a hash of the URL: URLs carry secrets
    url: str  # the Apprise URL itself (it names where to deliver; never logged)
    title: str = ""
    body: str = ""
    state: str = Field(default="pending", max_length=16)  # pending | sent | gave_up
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
