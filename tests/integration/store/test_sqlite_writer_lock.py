"""The SQLite writer lock (fleet.store.sqlite_lock): held for exactly a write transaction.

Whether the lock is free is checked from this process through a second open of
the lock file: flock locks of two open files exclude each other even within a
process, so a non-blocking attempt fails while any writer holds it.
"""

from __future__ import annotations

import fcntl
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from fleet.runs import leases
from fleet.store import migrate, sqlite_lock
from fleet.store import runs as store
from fleet.store.db import begin_write, make_engine
from fleet.store.sqlite_lock import LOCK_SUFFIX, lock_for
from tests.helpers import make_run

HOLDER = """
import sys, time
from sqlmodel import Session
from fleet.store.db import begin_write, make_engine
engine = make_engine(sys.argv[1])
session = Session(engine)
begin_write(session, "holder")
session.connection().exec_driver_sql("INSERT INTO t VALUES (0)")
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A SQLite file with one table ``t``; its URL and its lock file."""
    path = tmp_path / "w.sqlite"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    yield url, Path(str(path) + LOCK_SUFFIX)


def _free(lock_file: Path) -> bool:
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # also drops the lock if it was taken
    return True


def _insert(engine: Engine, value: int) -> None:
    with Session(engine) as session:
        begin_write(session, "test")
        session.connection().exec_driver_sql(f"INSERT INTO t VALUES ({value})")
        session.commit()


def _start_holder(url: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_held_for_the_write_transaction_only(db: tuple[str, Path]) -> None:
    url, lock_file = db
    engine = make_engine(url)
    with Session(engine) as session:
        session.connection().exec_driver_sql("SELECT count(*) FROM t").scalar()
        assert _free(lock_file), "a read transaction took the writer lock"
        session.connection().exec_driver_sql("INSERT INTO t VALUES (1)")  # deferred: now a writer
        assert not _free(lock_file)
        session.commit()
        assert _free(lock_file)
        begin_write(session, "test")
        assert not _free(lock_file)
        session.rollback()
        assert _free(lock_file)
    engine.dispose()


def test_released_when_the_transaction_fails(db: tuple[str, Path]) -> None:
    url, lock_file = db
    engine = make_engine(url)
    _insert(engine, 1)
    with pytest.raises(IntegrityError), Session(engine) as session:
        begin_write(session, "test")
        session.connection().exec_driver_sql("INSERT INTO t VALUES (1)")  # duplicate key
    assert _free(lock_file)
    with pytest.raises(RuntimeError), Session(engine) as session:
        begin_write(session, "test")
        session.connection().exec_driver_sql("INSERT INTO t VALUES (2)")
        raise RuntimeError("the caller fails mid-transaction")
    assert _free(lock_file)
    _insert(engine, 3)  # and the next writer gets it
    engine.dispose()


def test_released_when_the_connection_is_invalidated(db: tuple[str, Path]) -> None:
    url, lock_file = db
    engine = make_engine(url)
    session = Session(engine)
    begin_write(session, "test")
    session.connection().exec_driver_sql("INSERT INTO t VALUES (1)")
    assert not _free(lock_file)
    session.connection().invalidate()
    assert _free(lock_file)
    session.close()
    _insert(engine, 2)
    engine.dispose()


def test_kill_9_of_a_holder_frees_the_database(db: tuple[str, Path]) -> None:
    url, lock_file = db
    holder = _start_holder(url)
    try:
        assert not _free(lock_file)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert _free(lock_file)
        engine = make_engine(url, busy_timeout_ms=5_000)
        _insert(engine, 1)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT id FROM t").scalars().all() == [1]
        engine.dispose()
    finally:
        holder.kill()
        holder.wait()


def test_a_writer_waits_at_most_its_busy_timeout(db: tuple[str, Path]) -> None:
    url, _ = db
    holder = _start_holder(url)
    engine = make_engine(url, busy_timeout_ms=200)
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            _insert(engine, 1)
        with pytest.raises(OperationalError, match="database is locked"):
            _insert(engine, 1)  # a second wait, while the first one's helper still waits
    finally:
        holder.kill()
        holder.wait()
    _insert(engine, 1)  # the lock the helper then takes is passed on, not kept
    _insert(engine, 2)
    engine.dispose()


def _count_under_lock(path: str, counter: str, threads: int, rounds: int) -> None:
    def work() -> None:
        lock = lock_for(path)
        assert lock is not None
        for _ in range(rounds):
            assert lock.acquire(30)
            try:  # a read-modify-write that loses updates unless it is exclusive
                value = int(Path(counter).read_text() or 0)
                os.sched_yield()
                Path(counter).write_text(str(value + 1))
            finally:
                lock.release()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def test_one_holder_at_a_time_across_processes_and_threads(tmp_path: Path) -> None:
    path, counter = str(tmp_path / "x.lock"), tmp_path / "counter"
    counter.write_text("0")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_count_under_lock, args=(path, str(counter), 3, 100))
             for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert counter.read_text() == str(4 * 3 * 100)


def test_a_forked_child_does_not_share_its_parents_lock(tmp_path: Path) -> None:
    path = str(tmp_path / "x.lock")
    lock = lock_for(path)  # opened before the fork: the child inherits the open file
    assert lock is not None
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: once the parent holds the lock, it must not get it too
        os.read(ready_r, 1)
        child = lock_for(path)
        os._exit(3 if child is None else (1 if child.acquire(0.2) else 0))
    assert lock.acquire(1)
    try:
        os.write(ready_w, b"x")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        lock.release()
        os.close(ready_r)
        os.close(ready_w)


def test_checkpoints_keep_the_wal_small(db: tuple[str, Path]) -> None:
    url, _ = db
    engine = make_engine(url)
    with engine.connect() as conn:  # SQLite's own checkpoint is off on these connections
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    for i in range(1000):  # 1 000 transactions of at least one 4 KiB page each: ~4 MiB
        _insert(engine, i)
    wal = Path(url[len("sqlite:///"):] + "-wal")
    assert wal.stat().st_size < 1_000_000
    engine.dispose()


@pytest.mark.parametrize("database", [":memory:", "", "file:m?mode=memory&cache=shared"])
def test_in_memory_databases_take_no_lock(database: str) -> None:
    uri = database.startswith("file:")
    conn = sqlite_lock.WriterLockConnection(database, uri=uri)  # type: ignore[call-arg]
    conn.isolation_level = None
    conn.execute("CREATE TABLE t (id INTEGER)")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t VALUES (1)")
    assert conn.writer_lock_path is None and conn.writer_lock is None
    conn.commit()
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    conn.close()


@pytest.mark.parametrize(("sql", "writes"), [
    ("SELECT 1", False), ("  select * from runs", False), ("PRAGMA foreign_keys=ON", False),
    ("BEGIN", False), ("BEGIN DEFERRED", False), ("BEGIN IMMEDIATE", True),
    ("BEGIN EXCLUSIVE", True), ("COMMIT", False), ("ROLLBACK", False),
    ("SAVEPOINT sa_1", False), ("RELEASE SAVEPOINT sa_1", False),
    ("INSERT INTO t VALUES (1)", True), ("UPDATE runs SET state = 'x'", True),
    ("DELETE FROM t", True), ("REPLACE INTO t VALUES (1)", True),
    ("CREATE TABLE x (a)", True), ("DROP TABLE x", True), ("VACUUM", True),
    ("WITH a AS (SELECT 1) SELECT * FROM a", False),
    ("WITH a AS (SELECT 1) DELETE FROM t WHERE id IN a", True), ("", False),
])
def test_which_statements_take_the_lock(sql: str, writes: bool) -> None:
    assert sqlite_lock.is_write(sql) is writes


def test_a_claim_holds_the_writer_lock_for_its_own_statements_only(tmp_path: Path) -> None:
    """The SQLite claim runs on a pooled connection's driver cursor: a duplicate delivery
    is dropped without the lock, a claim that cannot have it fails as SQLAlchemy's
    (retried) ``database is locked`` and changes nothing, and the lock is let go after."""
    path = tmp_path / "c.sqlite"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    engine = make_engine(url, busy_timeout_ms=300)
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    with Session(engine, expire_on_commit=False) as s:
        queued, done = make_run(s, now), make_run(s, now, state="completed")
    holder = _start_holder(url)
    try:
        with Session(engine) as s:
            assert leases.claim(s, done.id, now, "rt-1") is None  # no wait for the lock
            with pytest.raises(OperationalError, match="database is locked"):
                leases.claim(s, queued.id, now, "rt-1")
            assert store.get(s, queued.id, fresh=True).state == "queued"  # type: ignore[union-attr]
            s.commit()
    finally:
        holder.kill()
        holder.wait()
    with Session(engine) as s:
        lease = leases.claim(s, queued.id, now, "rt-1")
        assert lease is not None and lease.claimed is not None
        assert lease.claimed.graph_id == queued.graph_id and not s.in_transaction()
    assert _free(Path(str(path) + LOCK_SUFFIX))
    engine.dispose()
