"""Liveness keys in a dict with expiry: the double of the Redis liveness keys."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence


class InMemoryLiveness:
    """Liveness keys with a TTL on ``clock``; ``fail=True`` makes reads raise (a Redis outage)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self.fail = False

    def beat(self, runtime_id: str, ttl_s: float) -> None:
        with self._lock:
            self._expiry[runtime_id] = self._clock() + ttl_s

    def alive(self, runtime_ids: Sequence[str]) -> dict[str, bool]:
        if self.fail:
            raise ConnectionError("liveness store unavailable (InMemoryLiveness.fail is set)")
        now = self._clock()
        with self._lock:
            return {r: self._expiry.get(r, 0.0) > now for r in runtime_ids}

    def forget(self, runtime_id: str) -> None:
        with self._lock:
            self._expiry.pop(runtime_id, None)
