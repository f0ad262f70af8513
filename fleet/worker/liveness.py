"""Runtime liveness keys in Redis: the fast path beside the database's ``last_seen_at``.

A runtime beats its key every heartbeat with a TTL; the stale-runtime sweep
asks which runtimes still have a live key. This is the real
:class:`fleet.ports.Liveness`; its double is :class:`fleet.testing.InMemoryLiveness`.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

KEY_PREFIX = "fleet:runtime:"


class RedisLiveness:
    """Liveness keys in Redis with a TTL."""

    def __init__(self, redis_url: str, *, socket_timeout: float = 2.0) -> None:
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
