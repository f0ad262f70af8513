"""The database's clock, as SQL: lease times never come from a worker host's clock.

Two hosts whose clocks disagree by minutes must not reap each other's live
runs, so every lease time (claim, heartbeat, expiry) is written and compared
with the database server's own "now", inside the statement:
PostgreSQL ``clock_timestamp()`` in UTC, SQLite's ``'now'`` (both naive UTC,
as the tables store them; SQLite's text keeps six fraction digits like the
rows SQLAlchemy writes, so the texts compare in time order).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, literal, select, type_coerce
from sqlmodel import Session

from fleet.store.types import UTCDateTime


def _dialect(session: Session) -> str:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return engine.dialect.name


def db_now(session: Session, plus_s: float = 0.0) -> ColumnElement[Any]:
    """The database's current UTC time (plus ``plus_s`` seconds) as an SQL expression."""
    if _dialect(session) == "postgresql":
        now: ColumnElement[Any] = func.timezone("UTC", func.clock_timestamp())
        if plus_s:
            now = now + literal(timedelta(seconds=plus_s))
        return type_coerce(now, UTCDateTime())
    modifiers = [f"{plus_s:+.6f} seconds"] if plus_s else []
    text = func.strftime("%Y-%m-%d %H:%M:%f", "now", *modifiers).concat("000")
    return type_coerce(text, UTCDateTime())


def read_now(session: Session) -> Any:
    """The database's current UTC time, read (one round trip)."""
    return session.execute(select(db_now(session))).scalar_one()
