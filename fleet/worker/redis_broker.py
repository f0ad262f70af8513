"""Dramatiq's Redis broker with fleet's two fixes.

- A message that cannot be decoded (garbage bytes) no longer kills the
  consumer thread (Dramatiq lets ``DecodeError`` escape, and the messages
  fetched in the same batch wait until the process dies): it is logged with its
  queue and first bytes, moved to the queue's dead-letter set, and the other
  messages go on.
- The broker's own heartbeat timeout is a setting, and maintenance runs often
  enough that a dead consumer's fetched messages come back within it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.errors import DecodeError

log = logging.getLogger(__name__)

# Out of a million Redis commands, how many also run Dramatiq's maintenance
# (requeueing what dead consumers had fetched): about one poll in twenty.
MAINTENANCE_CHANCE = 50_000


class _SafeConsumer(_RedisConsumer):
    """A consumer that dead-letters undecodable messages instead of dying on them."""

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except DecodeError as exc:
            data = exc.data if isinstance(exc.data, bytes | str) else b""
            raw = data.encode() if isinstance(data, str) else data
            message_id = self._find_id(raw)
            log.error("undecodable message in queue %r (first bytes %r); moved to the "
                      "dead-letter queue%s", self.queue_name, raw[:40],
                      "" if message_id else " (its id was not found; dropped)")
            if message_id is not None:
                self.broker.do_nack(self.queue_name, message_id)
            return None

    def _find_id(self, raw: bytes) -> str | None:
        """The Redis id of the fetched message whose payload is ``raw`` (rare path: a scan)."""
        client = self.broker.client
        ns = self.broker.namespace
        acks = f"{ns}:__acks__.{self.broker.broker_id}.{self.queue_name}"
        ids = list(client.smembers(acks))
        if not ids:
            return None
        payloads = client.hmget(f"{ns}:{self.queue_name}.msgs", ids)
        for mid, payload in zip(ids, payloads, strict=True):
            if payload == raw:
                return mid.decode() if isinstance(mid, bytes) else str(mid)
        return None


class FleetRedisBroker(RedisBroker):
    """RedisBroker whose consumers survive undecodable messages, and that enqueues in batches."""

    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return _SafeConsumer

    def enqueue_many(self, messages: Sequence[Message[Any]]) -> None:
        """Enqueue ``messages`` in ONE Redis round trip.

        What Dramatiq's ``enqueue`` script does per message (the message stored in
        the queue's hash, its id pushed on the queue's list), done for the whole
        batch by one HSET and one RPUSH per queue in a MULTI: consumers see the
        same keys. Middleware sees each message as with :meth:`enqueue`; a failure
        raises (the caller's runs stay queued and unsent, for the re-send sweep).
        """
        if not messages:
            return
        ready = []
        by_queue: dict[str, dict[str, bytes]] = {}
        for message in messages:
            message = message.copy(options={"redis_message_id": str(uuid4())})
            self.emit_before("enqueue", message, None)
            by_queue.setdefault(message.queue_name, {})[
                message.options["redis_message_id"]] = message.encode()
            ready.append(message)
        self._store(by_queue)
        for message in ready:
            self.emit_after("enqueue", message, None)

    def enqueue_encoded(self, queue_name: str, messages: Sequence[tuple[str, bytes]]) -> None:
        """Enqueue messages already encoded (``(redis message id, bytes)``, e.g. by
        :func:`fleet.worker.wire.encode_runs`) on ``queue_name`` in ONE Redis round trip,
        as :meth:`enqueue_many` stores them; no middleware sees them."""
        if messages:
            self._store({queue_name: dict(messages)})

    def _store(self, by_queue: dict[str, dict[str, bytes]]) -> None:
        """What Dramatiq's ``enqueue`` script does, for many messages: each stored in its
        queue's hash, its id pushed on the queue's list; one MULTI for all."""
        with self.client.pipeline(transaction=True) as pipe:
            for queue_name, batch in by_queue.items():
                full = f"{self.namespace}:{queue_name}"
                pipe.hset(f"{full}.msgs", mapping=batch)  # type: ignore[arg-type]
                pipe.rpush(full, *batch)
            pipe.execute()


def prefetched_run_ids(broker: RedisBroker, consumer_id: str, queue_name: str, *,
                       take: bool = False) -> list[str]:
    """Run ids of the messages a (dead) consumer had fetched from ``queue_name`` and not acked.

    Reads Dramatiq's ``__acks__`` set of that consumer. With ``take``, the messages
    found are removed (from the set and the queue's message hash) by whichever caller
    removes them first: each is answered once, however many live workers look and
    however often, and Dramatiq's own later requeue does not deliver it once more.
    """
    client = broker.client
    ns = broker.namespace
    acks = f"{ns}:__acks__.{consumer_id}.{queue_name}"
    msgs = f"{ns}:{queue_name}.msgs"
    ids = list(client.smembers(acks))
    if not ids:
        return []
    payloads = client.hmget(msgs, ids)
    if take:
        pipe = client.pipeline(transaction=True)
        for message_id in ids:
            pipe.srem(acks, message_id)
        won = pipe.execute()
        mine = [i for i, removed in zip(ids, won, strict=True) if removed]
        if mine:
            client.hdel(msgs, *mine)
        payloads = [p for p, removed in zip(payloads, won, strict=True) if removed]
    run_ids: list[str] = []
    for payload in payloads:
        if not isinstance(payload, bytes) or not payload:
            continue
        try:
            args = Message.decode(payload).args
        except Exception:  # a garbage message is not a run
            continue
        if args and isinstance(args[0], str):
            run_ids.append(args[0])
    return run_ids
