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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")


def _translate(exc: sqlite3.Error, what: str) -> DBAPIError:
    return DBAPIError.instance(what, None, exc, sqlite3.Error)  # type: ignore[return-value]


@contextmanager
def _cursor(engine: Engine, what: str) -> Iterator[tuple[sqlite3.Connection, sqlite3.Cursor]]:
    """A pooled connection's driver cursor; SQLite's errors raised as SQLAlchemy's."""
    fairy = engine.raw_connection()
    conn: sqlite3.Connection = fairy.driver_connection  # type: ignore[assignment]
    try:
        cur = conn.cursor()
        try:
            yield conn, cur
        finally:
            cur.close()
    except sqlite3.Error as exc:
        raise _translate(exc, what) from exc
    finally:
        fairy.close()  # back to the pool (its reset rolls back what was left open)


def read_alone(engine: Engine, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
    """The first row of one read, outside any transaction (WAL readers wait for no one)."""
    with _cursor(engine, sql) as (_, cur):
        cur.execute(sql, params)
        row = cur.fetchone()
    return None if row is None else tuple(row)


def write_alone(engine: Engine, body: Callable[[sqlite3.Cursor], T], what: str) -> T:
    """``body`` in its own ``BEGIN IMMEDIATE`` transaction on a pooled connection, without
    a session: committed when it returns (the writer lock is let go then), rolled back when
    it raises. ``what`` names the work in an error."""
    with _cursor(engine, what) as (conn, cur):
        cur.execute("BEGIN IMMEDIATE")
        try:
            found = body(cur)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        return found
