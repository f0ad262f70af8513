"""Runtime liveness keys: the fast path beside the database's ``last_seen_at``.

A runtime beats its key every heartbeat with a TTL; the stale-runtime sweep
asks which runtimes still have a live key. :class:`RedisLiveness` is the real
port; :class:`InMemoryLiveness` is its double for tests and dev mode.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

KEY_PREFIX = "fleet:runtime:"


class Liveness(Protocol):
    """Where runtimes say they are alive."""

    def beat(self, runtime_id: str, ttl_s: float) -> None:
        """Mark ``runtime_id`` alive for ``ttl_s`` seconds."""

    def alive(self, runtime_ids: Sequence[str]) -> dict[str, bool]:
        """Which of ``runtime_ids`` have a live key. Raises when the store errors."""
        ...

    def forget(self, runtime_id: str) -> None:
        """Remove the key (graceful shutdown)."""


class RedisLiveness:
    """Liveness keys in Redis with a TTL."""

    def __init__(self, redis_url: str, *, socket_timeout: float = 2.0) -> None:
        import redis

        self._client = redis.Redis.from_url(redis_url, socket_timeout=socket_timeout,
                                            socket_connect_timeout=socket_timeout)

    def beat(self, runtime_id: str, ttl_s: float) -> None:
        self._client.set(KEY_PREFIX + runtime_id, "1", px=int(ttl_s * 1000))

    def alive(self, runtime_ids: Sequence[str]) -> dict[str, bool]:
        if not runtime_ids:
            return {}
        values = self._client.mget([KEY_PREFIX + r for r in runtime_ids])
        return {r: v is not None for r, v in zip(runtime_ids, values, strict=True)}

    def forget(self, runtime_id: str) -> None:
        self._client.delete(KEY_PREFIX + runtime_id)


class InMemoryLiveness:
    """Liveness keys in a dict with expiry; ``fail=True`` makes reads raise like a Redis outage."""

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
