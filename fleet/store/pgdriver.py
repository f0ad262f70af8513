"""PostgreSQL statements through psycopg's own cursor: the worker's hot path.

For the few statements every run issues (its claim, its checkpoints and its
finish), SQLAlchemy's execution context, result metadata and session
bookkeeping cost more client CPU than psycopg spends sending the statement and
reading its rows, on a worker that is bound by the GIL. Here those statements
go straight to the driver connection that SQLAlchemy's pool lends, and a
group of writes travels as one pipeline (psycopg's pipeline mode: every
statement and the COMMIT in one round trip).

Errors are translated as SQLAlchemy would (:class:`sqlalchemy.exc.DBAPIError`
subclasses; a broken connection is invalidated and its error marked so), so
:func:`fleet.store.db.with_retry` retries an outage here as everywhere else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, StatementError


def _translate(exc: psycopg.Error, sql: str, broken: bool) -> StatementError:
    """The SQLAlchemy error for ``exc`` (a DBAPIError subclass: OperationalError...)."""
    return DBAPIError.instance(sql, None, exc, psycopg.Error, connection_invalidated=broken)


def _broken(exc: psycopg.Error, conn: psycopg.Connection[Any]) -> bool:
    return isinstance(exc, psycopg.OperationalError) or conn.closed or conn.broken


def _checkout(engine: Engine) -> Any:
    """A pooled connection; a server out of reach raises as SQLAlchemy's ``connect()``
    would (an OperationalError), not as the driver's own error."""
    try:
        return engine.raw_connection()
    except psycopg.Error as exc:
        raise _translate(exc, "connect", True) from exc


def fetch_alone(engine: Engine, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run one statement that returns rows as its own transaction (autocommit) on a
    pooled connection, without a session: one round trip; its rows."""
    fairy = _checkout(engine)
    conn: psycopg.Connection[Any] = fairy.driver_connection
    try:
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params, prepare=True)
                return cur.fetchall()
        finally:
            if not conn.closed:
                conn.autocommit = False  # the pool lends connections in transaction mode
    except psycopg.Error as exc:
        broken = _broken(exc, conn)
        if broken:
            fairy.invalidate(exc)
        raise _translate(exc, sql, broken) from exc
    finally:
        fairy.close()


def _rolled_back(conn: psycopg.Connection[Any]) -> bool:
    """Roll the connection's transaction back; False when it could not (unusable then)."""
    if conn.closed or conn.broken:
        return False
    try:
        conn.rollback()
    except psycopg.Error:
        return False
    return True


class Sent:
    """One statement of a pipeline; its ``rows`` once the pipeline has committed."""

    def __init__(self, cursor: psycopg.Cursor[Any], returns: bool) -> None:
        self._cursor: psycopg.Cursor[Any] | None = cursor
        self._returns = returns
        self.rows: list[tuple[Any, ...]] = []

    def collect(self) -> None:
        """Read the statement's rows (the pipeline has been synced) and free its cursor."""
        if self._cursor is not None:
            cur, self._cursor = self._cursor, None
            with cur:
                if self._returns:
                    self.rows = cur.fetchall()


class Pipeline:
    """Statements queued on one driver connection, sent together; see :func:`pipeline`."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self.sent: list[Sent] = []
        self.last_sql = ""

    def send(self, sql: str, params: dict[str, Any], *, returns: bool = False) -> Sent:
        """Queue one statement; with ``returns``, its rows are in ``.rows`` once the block
        has committed."""
        self.last_sql = sql
        cur = self._conn.cursor()
        cur.execute(sql, params, prepare=True)
        one = Sent(cur, returns)
        self.sent.append(one)
        return one


@contextmanager
def pipeline(engine: Engine) -> Iterator[Pipeline]:
    """One transaction on a pooled connection, in pipeline mode: the statements queued in
    the block and the COMMIT at its end go out together and are answered in one round trip.
    An error rolls the whole transaction back and is raised as SQLAlchemy would raise it."""
    fairy = _checkout(engine)
    conn: psycopg.Connection[Any] = fairy.driver_connection
    sent = Pipeline(conn)
    try:
        try:
            with conn.pipeline():
                yield sent
                conn.commit()  # sends COMMIT and syncs: every result is in
                for one in sent.sent:
                    one.collect()
        except psycopg.Error as exc:
            broken = _broken(exc, conn) or not _rolled_back(conn)
            if broken:
                fairy.invalidate(exc)
            raise _translate(exc, sent.last_sql, broken) from exc
        except BaseException:
            if not _rolled_back(conn):
                fairy.invalidate()
            raise
    finally:
        fairy.close()  # back to the pool (nothing to reset: committed or rolled back)
