"""The threads that run blocks, shared by every run of a process.

A block that may wait (I/O, a sleep) runs on one of these threads, not on the
run's own thread, so that the run's loop can still end the run on a timeout or
a cancel while the block hangs (the hung thread is left to finish on its own).
Starting a thread per run cost more than a trivial run's blocks; these threads
are kept and reused, and one idle for ``IDLE_S`` ends.

The pool never queues: a task goes to an idle thread or to a new one. Each run
bounds how many of its blocks run at once (its node concurrency), so the number
of threads follows the work a process has in flight.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

IDLE_S = 60.0


class BlockThreads:
    """Reusable daemon threads; :meth:`submit` runs a task at once on one of them."""

    def __init__(self, name: str = "fleet-block", idle_s: float = IDLE_S) -> None:
        self._name = name
        self._idle_s = idle_s
        self._tasks: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = \
            queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for a task, minus the tasks handed to them
        self._busy = 0  # threads running a task
        self._numbers = itertools.count()
        self.started = 0  # threads ever started (for tests)

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on an idle thread, or a new one when none is idle."""
        with self._lock:
            start = self._idle <= 0
            if not start:
                self._idle -= 1  # this task is that thread's
        self._tasks.put((fn, args))
        if start:
            self.started += 1
            threading.Thread(target=self._work, daemon=True,
                             name=f"{self._name}-{next(self._numbers)}").start()

    def _work(self) -> None:
        while True:
            try:
                fn, args = self._tasks.get(timeout=self._idle_s)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:  # no task was handed to this thread meanwhile
                        self._idle -= 1
                        return
                continue  # a task is on its way: take it
            with self._lock:
                self._busy += 1
            try:
                fn(*args)
            finally:
                with self._lock:
                    self._busy -= 1
                    self._idle += 1

    @property
    def idle(self) -> int:
        """Threads waiting for a task."""
        with self._lock:
            return self._idle

    @property
    def busy(self) -> int:
        """Threads running a task (a block, possibly of a run that has ended)."""
        with self._lock:
            return self._busy


_SHARED = BlockThreads()


def shared() -> BlockThreads:
    """The process's block threads."""
    return _SHARED


def _after_fork_in_child() -> None:
    # A forked child has none of its parent's threads: a pool that counted them idle
    # would hand tasks to nobody.
    global _SHARED
    _SHARED = BlockThreads()


os.register_at_fork(after_in_child=_after_fork_in_child)
