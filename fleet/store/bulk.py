"""Many rows in one statement with one parameter: inserts and updates at dispatcher scale.

A multi-row ``VALUES`` of 500 rows carries thousands of bound parameters that
the driver must splice into the SQL text; on PostgreSQL the rows travel instead
as ONE JSON parameter expanded server-side by ``json_to_recordset``. SQLite
(local, no network) keeps plain ``executemany``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, Integer, Table, bindparam, text, update
from sqlalchemy.types import JSON, TypeDecorator
from sqlmodel import Session

from fleet.store.db import upsert_insert


def _pg_type(column: Any) -> str:
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance if hasattr(kind, "impl_instance") else kind.impl
    if isinstance(kind, DateTime):
        return "timestamp"
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, Integer):
        return "bigint"
    if isinstance(kind, Float):
        return "double precision"
    if isinstance(kind, JSON):
        return "json"
    return "text"


def naive_iso(value: datetime) -> str:
    """``value`` as stored (naive UTC, as UTCDateTime does), in ISO format."""
    return (value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value).isoformat()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return naive_iso(value)
    return str(value)


def payload(rows: Sequence[dict[str, Any]]) -> str:
    """``rows`` as one JSON array of objects for ``json_to_recordset`` (timestamps as
    naive UTC). The rows are encoded as they are, not copied per column: the recordset
    reads the columns it lists (a key a row lacks is NULL, a key it does not list is
    ignored), and the C encoder calls back only for a timestamp."""
    return json.dumps(rows, separators=(",", ":"), default=_json_default)


def _with_defaults(table: Table, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows completed with the columns' Python-side defaults, which raw SQL would not apply."""
    missing = [c for c in table.columns
               if c.name not in rows[0] and c.default is not None and not c.primary_key
               and getattr(c.default, "is_scalar", False)]
    if not missing:
        return list(rows)
    extra = {c.name: c.default.arg for c in missing}  # type: ignore[union-attr]
    return [{**extra, **r} for r in rows]


def recordset(table: Table, columns: Sequence[str]) -> str:
    """The ``json_to_recordset`` column list of ``columns`` of ``table``, typed."""
    return ", ".join(f'"{c}" {_pg_type(table.c[c])}' for c in columns)


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]], *,
                conflict: Sequence[str] | None = None,
                returning: str | None = None) -> list[Any]:
    """Insert ``rows`` (all with the same keys); with ``conflict``, rows whose values on
    those columns already exist are skipped. Returns the ``returning`` column of the rows
    inserted (empty without ``returning``)."""
    if not rows:
        return []
    columns = list(rows[0])
    if session.get_bind().dialect.name != "postgresql":
        stmt = upsert_insert(session, table)
        if conflict:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
        if returning:
            return list(session.execute(stmt.returning(table.c[returning]),
                                        list(rows)).scalars().all())
        session.execute(stmt, list(rows))
        return []
    rows = _with_defaults(table, rows)
    columns = list(rows[0])
    cols = ", ".join(f'"{c}"' for c in columns)
    sql = (f'INSERT INTO "{table.name}" ({cols}) SELECT {cols} FROM '
           f"json_to_recordset(CAST(:rows AS json)) AS r({recordset(table, columns)})")
    if conflict:
        sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    if returning:
        sql += f' RETURNING "{returning}"'
        return list(session.execute(text(sql), {"rows": payload(rows)})
                    .scalars().all())
    session.execute(text(sql), {"rows": payload(rows)})
    return []


def update_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]],
                key: str = "id") -> None:
    """Per-row updates by ``key`` (every row with the same keys) in one statement."""
    if not rows:
        return
    columns = list(rows[0])
    if session.get_bind().dialect.name != "postgresql":
        values: dict[str, Any] = {c: bindparam(f"v_{c}") for c in columns if c != key}
        stmt = update(table).where(table.c[key] == bindparam("v_key")).values(**values)
        session.execute(stmt, [{"v_key": r[key], **{f"v_{c}": r[c] for c in columns
                                                     if c != key}} for r in rows])
        return
    sets = ", ".join(f'"{c}" = r."{c}"' for c in columns if c != key)
    sql = (f'UPDATE "{table.name}" AS t SET {sets} FROM '
           f"json_to_recordset(CAST(:rows AS json)) AS r({recordset(table, columns)}) "
           f'WHERE t."{key}" = r."{key}"')
    session.execute(text(sql), {"rows": payload(rows)})
