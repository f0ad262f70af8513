"""Counters of `/metrics` kept in the store, so every web process reports the same values."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from fleet.store.types import UTCDateTime


class MetricCounter(SQLModel, table=True):
    """One monotonic counter (or histogram bucket) by name and canonical label set."""

    __tablename__ = "metric_counters"

    name: str = Field(primary_key=True, max_length=128)
    labels: str = Field(primary_key=True, max_length=512)  # canonical JSON of the labels
    value: float = 0.0


class MetricWatermark(SQLModel, table=True):
    """Up to when the store's rows have been counted into ``metric_counters``."""

    __tablename__ = "metric_watermarks"

    source: str = Field(primary_key=True, max_length=64)
    counted_until: datetime = Field(sa_type=UTCDateTime)
