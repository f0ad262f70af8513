"""Engines and sessions from settings, SQLite pragmas, and write transactions.

SQLite gets WAL, a busy timeout and foreign keys on every connection. A write
that must not race (a lease claim) opens its transaction with
``BEGIN IMMEDIATE`` through :func:`begin_write`; other transactions stay
deferred so readers never take the write lock. Every write transaction on a
SQLite file first takes the database's writer lock
(:mod:`fleet.store.sqlite_lock`): writers queue in the kernel and each is woken
as soon as the one before it ends, instead of polling in SQLite's busy handler.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session, create_engine

from fleet.errors import FleetError, StoreUnavailable
from fleet.settings import Settings
from fleet.store.sqlite_lock import WriterLockConnection

log = logging.getLogger(__name__)

T = TypeVar("T")

_BEGIN_OPTION = "fleet_sqlite_begin"


def is_sqlite(engine_or_url: Engine | str) -> bool:
    """Whether the engine (or URL) points at SQLite."""
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


def normalize_url(url: str) -> str:
    """Map plain ``postgresql://`` URLs to the psycopg 3 driver fleet ships with."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(database_url: str, *, busy_timeout_ms: int = 10_000, echo: bool = False,
                pool_size: int = 5) -> Engine:
    """Build an engine for ``database_url`` with fleet's connection set-up."""
    url = normalize_url(database_url)
    if is_sqlite(url):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000,
                          # write transactions queue on a file lock (sqlite_lock)
                          "factory": WriterLockConnection},
            # Pooled: reconnecting re-runs the pragmas and costs ~3x per claim.
            pool_size=pool_size, max_overflow=pool_size * 2,
        )
        _install_sqlite_hooks(engine, busy_timeout_ms)
        return engine
    # No pre-ping: it costs a round trip per transaction; a connection that died
    # with the server fails its statement, which the callers retry (with_retry),
    # and the pool replaces it.
    return create_engine(url, echo=echo, pool_pre_ping=False, pool_size=pool_size,
                         max_overflow=pool_size * 2)


def engine_for(settings: Settings, *, pool_size: int = 5) -> Engine:
    """The engine of ``settings.database_url``: the one place a process builds its engine."""
    return make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                       pool_size=pool_size)


def _install_sqlite_hooks(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def immediate(session: Session) -> None:
    """Begin the session's transaction with ``BEGIN IMMEDIATE`` on SQLite.

    Must be called before the session has run any statement in this
    transaction; on PostgreSQL it does nothing.
    """
    bind = session.get_bind()
    if isinstance(bind, Engine) and is_sqlite(bind):
        session.connection(execution_options={_BEGIN_OPTION: "IMMEDIATE"})


def refuse_open_transaction(session: Session, what: str) -> None:
    """Raise when ``session`` is inside a transaction: ``what`` must open its own (a
    stale snapshot must not decide a write; on SQLite a deferred reader cannot safely
    become a writer, and a write on another connection would wait for this one)."""
    if session.in_transaction():
        raise FleetError(
            f"{what} must open its own transaction, but the session is already in one; "
            "commit or roll back first"
        )


def begin_write(session: Session, what: str) -> None:
    """Start a write transaction on ``session`` (``BEGIN IMMEDIATE`` on SQLite); refuses
    a session already inside a transaction (:func:`refuse_open_transaction`)."""
    refuse_open_transaction(session, what)
    immediate(session)


def write_transaction(session: Session, what: str) -> None:
    """End the session's read transaction, if any, and begin a write transaction.

    For an operation that checks (reads) and then writes: on SQLite a transaction that
    read and then writes must upgrade its lock, and when another process committed since
    the read SQLite refuses at once with ``database is locked``, whatever the busy
    timeout. Nothing read before is kept across: the checks read again inside.
    """
    if session.in_transaction():
        session.commit()
    begin_write(session, what)


def upsert_insert(session: Session, table: Any) -> Any:
    """The dialect's ``INSERT`` for ``table`` (it has ``on_conflict_do_nothing``)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def session_factory(engine: Engine) -> Callable[[], Session]:
    """A callable that opens a new session on ``engine``."""

    def _open() -> Session:
        return Session(engine, expire_on_commit=False)

    return _open


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _cause(exc: BaseException) -> str:
    """The driver's own first line (``database is locked``, ``connection refused``...)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {text[0] if text else ''}"[:200]


def with_retry(fn: Callable[[], T], *, attempts: int | None = None,
               budget_s: float | None = None, base_delay: float = 0.2,
               max_delay: float = 5.0, what: str = "database call",
               sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic) -> T:
    """Call ``fn``, retrying transient database errors with jittered backoff.

    Gives up after ``attempts`` tries or ``budget_s`` seconds, whichever comes
    first (6 tries when neither is given), raising StoreUnavailable. Used by
    long-lived processes so that a database outage delays work instead of
    crashing the process: one WARNING when it starts (naming the cause), one
    when the call succeeds again, nothing in between.
    """
    if attempts is None and budget_s is None:
        attempts = 6
    deadline = clock() + budget_s if budget_s is not None else None
    delay, tries, started = base_delay, 0, clock()
    while True:
        tries += 1
        try:
            result = fn()
        except Exception as exc:  # narrowed by _transient below
            if not _transient(exc):
                raise
            out_of_tries = attempts is not None and tries >= attempts
            out_of_time = deadline is not None and clock() + delay > deadline
            if out_of_tries or out_of_time:
                raise StoreUnavailable(
                    f"{what} failed {tries} times over {clock() - started:.1f}s "
                    f"({_cause(exc)}). Check that the database named by FLEET_DATABASE_URL "
                    "is reachable."
                ) from exc
            if tries == 1:
                log.warning("%s failed (%s); retrying with backoff", what, _cause(exc))
            sleep(delay + random.uniform(0, delay / 2))
            delay = min(delay * 2, max_delay)
            continue
        if tries > 1:
            log.warning("%s succeeded again after %d tries (%.1fs)", what, tries,
                        clock() - started)
        return result
