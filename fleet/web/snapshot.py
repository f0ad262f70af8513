"""One snapshot shared by every viewer, refreshed at most every ``ttl_s``.

The overview page, ``GET /api/v1/overview`` and ``/metrics`` all read the value held
here, so a hundred open dashboards cost the store what one does. When the value is
stale the first reader starts one refresh in the background and every reader keeps
getting the previous value until it lands (``background=False`` refreshes in the
reader's thread instead, while the others wait: what tests use). A failed refresh keeps
the previous value and is retried after the next ``ttl_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from fleet.errors import StoreUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)


class SharedSnapshot(Generic[T]):
    """A value computed by ``load`` at most once per ``ttl_s``, shared by all readers."""

    def __init__(self, load: Callable[[], T], ttl_s: float, *, background: bool = True,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self.ttl_s = ttl_s
        self.background = background
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._value: T | None = None
        self._at = float("-inf")
        self._refreshing = False
        self.loads = 0  # how many times ``load`` ran (for tests and the bench)

    def _stale(self) -> bool:
        return self._monotonic() - self._at >= self.ttl_s

    def _run_load(self) -> None:
        try:
            value = self._load()
        except Exception:
            log.exception("snapshot refresh failed; keeping the previous value")
            with self._lock:
                self._at = self._monotonic()  # retry after one ttl, not on every read
                self._refreshing = False
            return
        with self._lock:
            self._value, self._at, self._refreshing = value, self._monotonic(), False
            self.loads += 1

    def get(self) -> T:
        """The current value, loading it first when there is none yet."""
        with self._lock:
            first = self._value is None
            start = self._stale() and not self._refreshing
            if start:
                self._refreshing = True
        if start and (first or not self.background):
            self._run_load()
        elif start:
            threading.Thread(target=self._run_load, name="fleet-web-snapshot",
                             daemon=True).start()
        if first and not start:  # another reader is loading the first value: wait for it
            deadline = self._monotonic() + 60
            while self._value is None and self._monotonic() < deadline:
                time.sleep(0.01)
        if self._value is None:
            raise StoreUnavailable("the overview could not be read from the store (see the "
                                   "server log); retrying shortly")
        return self._value

    def invalidate(self) -> None:
        """Make the next read refresh (after an action the viewer expects to see)."""
        with self._lock:
            self._at = float("-inf")
