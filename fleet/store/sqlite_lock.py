"""One SQLite writer at a time across processes, the next one woken as soon as it is done.

SQLite admits one write transaction at a time. A writer that finds the write
lock taken sleeps in SQLite's busy handler (1, 2, 5, 10, 15, 20, 25, 50, then
100 ms steps) and polls: the lock sits free while its waiters sleep, and
under contention most of a write's time is that sleep (8 claimer processes
spent 51 of their 61 process-seconds in ``BEGIN IMMEDIATE``, p99 231 ms, max
1.9 s; ``docs/performance.md``, "Claims").

So every write transaction of a fleet connection to a SQLite file first takes
an exclusive ``flock`` on a lock file beside the database
(``<database>-writer.lock``), and lets it go when the transaction ends
(commit, rollback, an error that ended it, the connection closed). A waiter
sleeps in the kernel and is woken when the lock is released; the kernel
releases it when its holder dies, even by ``kill -9``. SQLite's own lock is
still what makes a write safe: this only orders who asks for it, so a writer
that does not take the file lock (the ``sqlite3`` shell, another program) is
still excluded by SQLite, as before.

- Which statements write: ``BEGIN IMMEDIATE``/``EXCLUSIVE`` and any statement
  that is not a read (``SELECT``, ``PRAGMA``, ``EXPLAIN``, a ``WITH`` that
  names no ``INSERT``/``UPDATE``/``DELETE``/``REPLACE``) or a transaction
  control (``BEGIN``, ``COMMIT``, ``SAVEPOINT``...). A deferred transaction
  takes the lock at its first write, where SQLite would take its own.
- Spinning first: a writer that finds the file locked tries again, yielding
  the CPU between tries, for up to ``SPIN_S`` (1 ms), and only then sleeps in
  the kernel: most write transactions are shorter than a sleeper's wake-up.
- Threads: ``flock`` locks belong to an open file, so a process opens the lock
  file once and its threads queue on a thread lock before it.
- Waits are bounded by the connection's busy timeout, as SQLite's are: a
  writer that cannot have the lock in that time fails with ``database is
  locked`` (``sqlite3.OperationalError``, which callers already retry). A
  thread blocked in ``flock`` cannot be interrupted, so the blocking call is
  made by a helper thread per process and lock file, and the writer waits for
  its answer with a timeout.
- ``fork``: a child must not share its parent's open lock file (they would
  not exclude each other, and the lock would outlive a dead parent), so a
  child forgets the parent's locks and opens its own.
- Checkpoints: SQLite's automatic checkpoint runs inside the COMMIT that crosses
  its threshold (copying the WAL into the database, with fsyncs: up to tens of
  ms on a busy disk), so under this lock every other writer would wait for it,
  where SQLite's own write lock is already free. So these connections turn the
  automatic checkpoint off and run a PASSIVE checkpoint themselves, after
  letting the lock go, once the process's write transactions have changed
  CHECKPOINT_CHANGES rows since its last one (SQLite's threshold is 1 000 WAL
  pages; a claim changes 2 rows and ~10-20 pages). Readers and writers go on
  during it, as with SQLite's own; the WAL still never grows without bound.
- ``:memory:`` and ``mode=memory`` databases have no file to lock beside:
  their connections take no lock (SQLite's own lock still applies).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import sqlite3
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

LOCK_SUFFIX = "-writer.lock"
# Rows this process's write transactions change between two of its checkpoints.
CHECKPOINT_CHANGES = 100
# How long a writer that finds the file locked keeps trying (yielding the CPU between
# tries) before it sleeps in the kernel: a claim holds the lock ~0.1-0.3 ms, and waking
# a sleeper costs more than that on a busy box (8 claimers on 2 cores: +12 to +30 %).
SPIN_S = 0.001

# Statements that never write, by their first word (an unknown one counts as a write:
# holding the lock longer than needed is safe, writing without it only slower).
_READS = frozenset({"SELECT", "VALUES", "PRAGMA", "EXPLAIN", "COMMIT", "END", "ROLLBACK",
                    "SAVEPOINT", "RELEASE", "DETACH"})
_WRITE_WORD = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def is_write(sql: str) -> bool:
    """Whether ``sql`` needs SQLite's write lock (or starts a transaction that takes it)."""
    words = sql.lstrip().split(None, 2)
    if not words:
        return False
    first = words[0].upper()
    if first == "BEGIN":
        return len(words) > 1 and words[1].upper() in ("IMMEDIATE", "EXCLUSIVE")
    if first == "WITH":
        return _WRITE_WORD.search(sql) is not None
    return first not in _READS


def lock_path(database: str, *, uri: bool = False) -> str | None:
    """The lock file of the SQLite ``database`` (as given to ``sqlite3.connect``);
    None for an in-memory database."""
    if uri:
        if not database.startswith("file:"):
            return None
        name, _, query = database[len("file:"):].partition("?")
        if "mode=memory" in query.split("&") or name in ("", ":memory:"):
            return None
        database = name
    if database in ("", ":memory:"):
        return None
    return os.path.abspath(database) + LOCK_SUFFIX


class FileWriteLock:
    """The write lock of one database for this process: a thread lock, then ``flock``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pid = os.getpid()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        self._local = threading.Lock()  # one thread of this process at a time
        self._cv = threading.Condition(threading.Lock())
        # A writer that finds the file locked asks the helper thread (request numbers, so
        # that a request given up on is told from the next one).
        self._requested = 0  # the waiting writer's request; 0: none waits
        self._served = 0  # the last request the helper took the file lock for
        self._granted = 0  # the request the file lock was handed to
        self._next = 0
        self._helper_blocked = False  # the helper is inside a blocking flock()
        self._helper: threading.Thread | None = None
        self.changes = 0  # rows changed since this process last checkpointed

    def acquire(self, timeout: float) -> bool:
        """Take the lock, waiting at most ``timeout`` seconds; whether it was taken."""
        deadline = time.monotonic() + timeout
        if not self._local.acquire(timeout=max(0.0, timeout)):
            return False
        try:
            taken = self._lock_file(deadline)
        except BaseException:
            self._local.release()
            raise
        if not taken:
            self._local.release()
        return taken

    def release(self) -> None:
        """Let the next writer in (in this process or another)."""
        if self.pid != os.getpid():
            return  # inherited across fork: the fd is the parent's, the lock is not ours
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._local.release()

    def close(self) -> None:
        """Close the lock file (the kernel drops a lock held through it)."""
        os.close(self._fd)

    def _lock_file(self, deadline: float) -> bool:
        with self._cv:
            # While the helper is blocked in flock() on our fd, a second flock() here
            # would succeed as a conversion of a lock we do not hold yet: wait for it.
            if not self._helper_blocked:
                spin_until = time.monotonic() + SPIN_S
                while True:
                    try:
                        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        return True
                    except BlockingIOError:
                        if time.monotonic() >= spin_until:
                            break
                        os.sched_yield()
            self._next += 1
            request = self._requested = self._next
            self._start_helper()
            self._cv.notify_all()
            granted = self._cv.wait_for(lambda: self._granted == request,
                                        timeout=max(0.0, deadline - time.monotonic()))
            self._requested = 0
            return granted

    def _start_helper(self) -> None:
        if self._helper is None or not self._helper.is_alive():
            self._helper = threading.Thread(target=self._wait_for_file, daemon=True,
                                            name=f"sqlite-writer-lock {self.path}")
            self._helper.start()

    def _wait_for_file(self) -> None:
        """The helper: take the file lock, blocking, each time a writer wants it."""
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._requested not in (0, self._served))
                self._helper_blocked = True
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except OSError:
                log.exception("flock on %s failed", self.path)
                with self._cv:
                    self._helper_blocked = False
                return
            with self._cv:
                self._helper_blocked = False
                if self._requested:  # this request, or the next one if its writer gave up
                    self._served = self._granted = self._requested
                    self._cv.notify_all()
                else:  # its writer gave up, and no other waits
                    fcntl.flock(self._fd, fcntl.LOCK_UN)


_locks: dict[str, FileWriteLock | None] = {}
_locks_guard = threading.Lock()


def lock_for(path: str) -> FileWriteLock | None:
    """This process's lock on the lock file ``path``; None when it cannot be opened
    (a read-only directory: the database is then left to SQLite's own locking)."""
    found = _locks.get(path, False)
    if found is not False:
        return found  # type: ignore[return-value]
    with _locks_guard:
        if path not in _locks:
            try:
                _locks[path] = FileWriteLock(path)
            except OSError as exc:
                log.warning("cannot open the SQLite writer lock %s (%s); writers will wait in "
                            "SQLite's busy handler instead", path, exc)
                _locks[path] = None
        return _locks[path]


def _forget_after_fork() -> None:
    # The child's copies: their fds share the parent's open files (and its locks); a lock
    # the parent's threads held is not the child's to release.
    for lock in _locks.values():
        if lock is not None:
            with contextlib.suppress(OSError):
                lock.close()
    _locks.clear()
    global _locks_guard
    _locks_guard = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


class _LockingCursor(sqlite3.Cursor):
    """Takes its connection's writer lock before a statement that writes."""

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        conn: WriterLockConnection = self.connection  # type: ignore[assignment]
        conn.before_statement(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            conn.after_statement()

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Any:
        conn: WriterLockConnection = self.connection  # type: ignore[assignment]
        conn.before_statement(sql)
        try:
            return super().executemany(sql, seq_of_parameters)
        finally:
            conn.after_statement()

    def executescript(self, sql_script: Any, /) -> Any:
        conn: WriterLockConnection = self.connection  # type: ignore[assignment]
        conn.before_statement("SCRIPT")  # may write: counted as one
        try:
            return super().executescript(sql_script)
        finally:
            conn.after_statement()


class WriterLockConnection(sqlite3.Connection):
    """A ``sqlite3`` connection whose write transactions hold the database's writer lock.

    Pass it as ``factory`` to ``sqlite3.connect`` (fleet's engines do). The lock
    is taken before the first statement that writes and released as soon as the
    connection is out of its transaction: after the statement that ended it,
    ``commit``, ``rollback`` or ``close``.
    """

    # Class defaults: __del__ runs on a connection whose __init__ failed (SQLite refused it).
    writer_lock: FileWriteLock | None = None  # the lock held, if any
    writer_lock_path: str | None = None

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self.writer_lock_path = lock_path(os.fsdecode(database), uri=bool(kwargs.get("uri")))
        # The busy timeout bounds the wait for our lock as it bounds SQLite's.
        self.writer_lock_timeout = float(kwargs.get("timeout", args[0] if args else 5.0))
        self._changes_seen = 0  # self.total_changes when the lock was last released
        if self.writer_lock_path is not None and lock_for(self.writer_lock_path) is not None:
            # Checkpoints are run after the lock is let go (see the module's docstring).
            super().execute("PRAGMA wal_autocheckpoint=0")

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or _LockingCursor)

    # The C shortcuts make their cursor without calling cursor(): route them through it.
    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Any:
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script: Any, /) -> Any:
        return self.cursor().executescript(sql_script)

    def before_statement(self, sql: str) -> None:
        """Take the writer lock when ``sql`` writes and the lock is not held yet."""
        if self.writer_lock is not None or self.writer_lock_path is None or not is_write(sql):
            return
        lock = lock_for(self.writer_lock_path)
        if lock is None:
            return
        if not lock.acquire(self.writer_lock_timeout):
            raise sqlite3.OperationalError(
                f"database is locked (waited {self.writer_lock_timeout:g}s for the writer lock "
                f"{self.writer_lock_path})")
        self.writer_lock = lock

    def after_statement(self) -> None:
        """Release the writer lock when the connection is no longer in a transaction."""
        if self.writer_lock is not None:
            self._release_if_done()

    def release_writer_lock(self) -> None:
        """Release the writer lock if this connection holds it."""
        lock, self.writer_lock = self.writer_lock, None
        if lock is not None:
            lock.release()

    def commit(self) -> None:
        lock = self.writer_lock
        try:
            super().commit()
        finally:
            self._release_if_done()
        if lock is not None and self.writer_lock is None:
            self._checkpoint_if_due(lock)

    def _checkpoint_if_due(self, lock: FileWriteLock) -> None:
        """After a write transaction: a PASSIVE checkpoint once enough rows were changed."""
        total = self.total_changes
        lock.changes += total - self._changes_seen
        self._changes_seen = total
        if lock.changes < CHECKPOINT_CHANGES:
            return
        lock.changes = 0
        try:  # never blocks or fails a writer: a busy checkpoint is left to the next one
            super().execute("PRAGMA wal_checkpoint(PASSIVE)").close()
        except sqlite3.Error as exc:
            log.debug("checkpoint of %s skipped: %s", self.writer_lock_path, exc)

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release_if_done()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_writer_lock()

    def __del__(self) -> None:
        # A connection dropped without close(): end its transaction (SQLite would, a moment
        # later), then let the next writer in.
        if self.writer_lock is None:
            return
        with contextlib.suppress(sqlite3.Error):
            super().close()
        self.release_writer_lock()

    def _release_if_done(self) -> None:
        try:
            done = not self.in_transaction
        except sqlite3.ProgrammingError:  # closed
            done = True
        if done:
            self.release_writer_lock()
