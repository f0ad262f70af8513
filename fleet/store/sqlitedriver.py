"""SQLite statements on the driver's own connection: the claim's short write transaction.

On SQLite one writer at a time holds the database (and fleet's writer lock,
:mod:`fleet.store.sqlite_lock`), so whatever a write transaction spends
between its ``BEGIN IMMEDIATE`` and its ``COMMIT`` every other writer waits
for. Through a session, SQLAlchemy's begin, execution contexts and commit
bookkeeping cost several times what SQLite spends on a claim's two
statements. Here the transaction runs on a pooled connection's ``sqlite3``
cursor, and the caller converts what it read after the lock is let go.

Errors are raised as SQLAlchemy would raise them (``database is locked`` is
an :class:`sqlalchemy.exc.OperationalError`), so :func:`fleet.store.db.with_retry`
retries them as everywhere else.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")


def _translate(exc: sqlite3.Error, what: str) -> DBAPIError:
    return DBAPIError.instance(what, None, exc, sqlite3.Error)  # type: ignore[return-value]


def read_alone(engine: Engine, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
    """The first row of one read, outside any transaction (WAL readers wait for no one)."""
    fairy = engine.raw_connection()
    try:
        cur = fairy.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cur.execute(sql, params)
            row = cur.fetchone()
        finally:
            cur.close()
    except sqlite3.Error as exc:
        raise _translate(exc, sql) from exc
    finally:
        fairy.close()
    return None if row is None else tuple(row)


def write_alone(engine: Engine, body: Callable[[sqlite3.Cursor], T], what: str) -> T:
    """``body`` in its own ``BEGIN IMMEDIATE`` transaction on a pooled connection, without
    a session: committed when it returns (the writer lock is let go then), rolled back when
    it raises. ``what`` names the work in an error."""
    fairy = engine.raw_connection()
    conn: sqlite3.Connection = fairy.driver_connection  # type: ignore[assignment]
    try:
        cur = conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            try:
                found = body(cur)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            return found
        finally:
            cur.close()
    except sqlite3.Error as exc:
        raise _translate(exc, what) from exc
    finally:
        fairy.close()
