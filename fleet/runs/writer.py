"""Writing what executions produce: checkpoints and final states, with group commit.

Every finished node execution is a checkpoint (its NodeRun and the outputs it
routed), written under its run's lease; the run's next state (completed,
failed, waiting...) is written the same way. A :class:`RunWriter` shared by
the threads of one worker process collects the writes that arrive within
``group_commit_ms`` of each other and commits them in ONE transaction: one
fence (a lock on the runs whose leases hold) for all of them, one upsert of
all node runs, one insert of all events, the finishes; on PostgreSQL that
transaction is one pipelined round trip (:func:`fleet.store.hotpath.write_pipelined`).
A checkpoint may be queued without waiting (:meth:`RunWriter.checkpoint_later`),
or carried by its run's finish (:meth:`RunWriter.finish` with ``node_runs``: the
executor holds back the checkpoints of blocks run on the run's own thread, so a
run of such blocks is one write), but a run's writes commit in order and its
finish waits for all of them, so a node is never recorded done before the node
it depended on; a crash loses at most the writes not yet committed (their nodes
are redone).

A database outage delays the writes (retried with backoff within
``db_outage_budget_s``); it does not lose them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from fleet.errors import StoreUnavailable
from fleet.store import hotpath
from fleet.store.db import begin_write, with_retry

log = logging.getLogger(__name__)

EVENT_COLUMNS = ("run_id", "at", "kind", "from_state", "to_state", "source_node", "source_pin",
                 "sink_node", "sink_pin", "data", "detail")


def event_row(**values: Any) -> dict[str, Any]:
    """A run_events row with every column present (one executemany needs one shape)."""
    return {c: values.get(c) for c in EVENT_COLUMNS}


@dataclass(frozen=True)
class Written:
    """What a write found: whether the lease still held, and a cancel request."""

    held: bool
    cancel_requested: bool = False


class _Done:
    """Set once, waited on by one thread: a held lock (an Event costs a Condition and a
    notify per write, a measurable share of the writer's time)."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def set(self) -> None:
        self._lock.release()

    def is_set(self) -> bool:
        return not self._lock.locked()

    def wait(self) -> None:
        with self._lock:  # blocks until set; released at once for any later wait
            pass


@dataclass
class _Write:
    run_id: str
    lease_id: str
    node_runs: list[dict[str, Any]] = field(default_factory=list)  # checkpoints
    run_values: dict[str, Any] | None = None  # a final (or waiting) state
    events: list[dict[str, Any]] = field(default_factory=list)
    done: _Done = field(default_factory=_Done)
    result: Written | None = None
    error: BaseException | None = None


class Pending:
    """A queued write: whether it is committed yet, and its outcome once it is."""

    def __init__(self, write: _Write) -> None:
        self._write = write

    def done(self) -> bool:
        """Whether the write was committed (or failed)."""
        return self._write.done.is_set()

    def wait(self) -> Written:
        """Block until committed; the outcome, or raise the write's error."""
        self._write.done.wait()
        if self._write.error is not None:
            raise self._write.error
        assert self._write.result is not None
        return self._write.result


def _apply(session: Session, writes: Sequence[_Write]) -> None:
    """Apply ``writes`` in the session's transaction (the caller commits)."""
    held = hotpath.fence(session, [(w.run_id, w.lease_id) for w in writes])
    live = []
    for w in writes:
        key = (w.run_id, w.lease_id)
        w.result = Written(key in held, held.get(key, False))
        if key in held:
            live.append(w)
    # Node runs first: a finish sums its run's node run costs into the run's cost.
    hotpath.save_node_runs(session, [row for w in live for row in w.node_runs])
    # Under the fence's row locks nothing else changes these runs: every finish applies.
    hotpath.finish_many(session, [(w.run_id, w.lease_id, w.run_values) for w in live
                                  if w.run_values is not None])
    hotpath.add_events(session, [e for w in live for e in w.events])


def _apply_pipelined(session: Session, writes: Sequence[_Write]) -> None:
    """:func:`_apply` and its commit in one round trip (PostgreSQL)."""
    held = hotpath.write_pipelined(
        session, [(w.run_id, w.lease_id) for w in writes],
        [(w.lease_id, row) for w in writes for row in w.node_runs],
        [(w.lease_id, e) for w in writes for e in w.events],
        [(w.run_id, w.lease_id, w.run_values) for w in writes if w.run_values is not None])
    for w in writes:
        key = (w.run_id, w.lease_id)
        w.result = Written(key in held, held.get(key, False))


class RunWriter:
    """Checkpoints and finishes of one process, committed together when they coincide.

    ``window_s=0`` writes each one in its caller's thread (tests, ``run_inline``).
    """

    def __init__(self, open_session: Callable[[], Session], *, window_s: float = 0.002,
                 max_batch: int = 64, budget_s: float = 60.0) -> None:
        self.open_session = open_session
        self.window_s = window_s
        self.max_batch = max_batch
        self.budget_s = budget_s
        # SimpleQueue: its put and timed get are C code (queue.Queue notifies a Condition)
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0  # transactions committed (for tests and benchmarks)
        self.writes = 0

    # --- the API ------------------------------------------------------------------

    def checkpoint(self, run_id: str, lease_id: str, node_run: dict[str, Any],
                   events: list[dict[str, Any]]) -> Written:
        """Persist one finished node execution under the lease; blocks until committed."""
        return self.checkpoint_later(run_id, lease_id, node_run, events).wait()

    def checkpoint_later(self, run_id: str, lease_id: str, node_run: dict[str, Any],
                         events: list[dict[str, Any]]) -> Pending:
        """Queue one checkpoint and return at once; :meth:`Pending.wait` for its outcome.

        Writes are committed in the order they were queued: a later write of the
        same run (its next checkpoint, its finish) commits with this one or after it.
        """
        return self.checkpoints_later(run_id, lease_id, [node_run], events)

    def checkpoints_later(self, run_id: str, lease_id: str, node_runs: list[dict[str, Any]],
                          events: list[dict[str, Any]]) -> Pending:
        """:meth:`checkpoint_later` for several finished executions of one run at once."""
        write = _Write(run_id, lease_id, node_runs=node_runs, events=events)
        self._enqueue(write)
        return Pending(write)

    def finish(self, run_id: str, lease_id: str, values: dict[str, Any],
               events: list[dict[str, Any]], node_runs: Sequence[dict[str, Any]] = ()
               ) -> Written:
        """Write the run's next state under the lease, with its last checkpoints
        (``node_runs``, whose events lead ``events``); blocks until committed."""
        return self._submit(_Write(run_id, lease_id, node_runs=list(node_runs),
                                   run_values=values, events=events))

    def close(self) -> None:
        """Stop the writer thread (after the writes already queued)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(10)

    # --- internals -------------------------------------------------------------------

    def _submit(self, write: _Write) -> Written:
        self._enqueue(write)
        return Pending(write).wait()

    def _enqueue(self, write: _Write) -> None:
        if self.window_s <= 0:
            self._commit([write])
        else:
            self._ensure_thread()
            self._queue.put(write)

    def _ensure_thread(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():  # every write: no lock to queue on
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="fleet-run-writer",
                                                daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.window_s
            while len(batch) < self.max_batch:
                left = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_Write]) -> None:
        try:
            self._transaction(batch)
        except StoreUnavailable as exc:  # the outage outlasted its budget: every write fails
            for write in batch:
                write.error = exc
        except DBAPIError as exc:  # one bad write must not fail the others: each on its own
            if len(batch) == 1:
                batch[0].error = exc
            else:
                for write in batch:
                    try:
                        self._transaction([write])
                    except Exception as one:
                        write.error = one
        except Exception as exc:
            for write in batch:
                write.error = exc
        finally:
            for write in batch:
                write.done.set()

    def _transaction(self, batch: list[_Write]) -> None:
        def once() -> None:
            with self.open_session() as session:
                if hotpath.pipelined(session):
                    _apply_pipelined(session, batch)
                    return
                begin_write(session, "run writes")
                _apply(session, batch)
                session.commit()

        with_retry(once, what="checkpoint write" if batch[0].run_values is None
                   else "final run write", budget_s=self.budget_s)
        self.batches += 1
        self.writes += len(batch)
