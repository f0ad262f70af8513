"""Run messages encoded straight to Dramatiq's Redis wire format, without a ``Message`` each.

A run's message is ``actor_name(run_id)``: the same few bytes but for three values.
Dramatiq's path builds a ``Message`` (a UUID), copies it with a Redis id (another
UUID and a dataclass copy), and JSON-encodes its ``asdict()``: at dispatcher scale
(100 000 runs a pass) that cost more CPU than writing the runs. :func:`encode_runs`
writes the bytes Dramatiq's ``JSONEncoder`` writes for that message (same keys, same
order, same separators), so any Dramatiq consumer decodes them as its own.

It is only correct where Dramatiq's own path would add nothing: the global encoder
is Dramatiq's ``JSONEncoder`` and no middleware of the broker hooks ``enqueue``
(:func:`plain_enqueue`); otherwise the caller builds ``Message`` objects.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii

from dramatiq import Broker, Middleware
from dramatiq import message as dramatiq_message
from dramatiq.encoder import JSONEncoder


def plain_enqueue(broker: Broker) -> bool:
    """Whether enqueueing on ``broker`` is only storing the encoded message: Dramatiq's
    JSON encoder, and no middleware with a ``before_enqueue`` or ``after_enqueue``."""
    if type(dramatiq_message.get_encoder()) is not JSONEncoder:
        return False
    return all(type(mw).before_enqueue is Middleware.before_enqueue
               and type(mw).after_enqueue is Middleware.after_enqueue
               for mw in broker.middleware)


def uuid4s(n: int) -> list[str]:
    """``n`` random version-4 UUIDs as strings (``str(uuid4())``), from one ``urandom`` call."""
    h = os.urandom(16 * n).hex()
    out = []
    for o in range(0, 32 * n, 32):
        variant = "89ab"[int(h[o + 16], 16) & 3]  # RFC 4122 variant bits 10xx
        out.append(f"{h[o:o + 8]}-{h[o + 8:o + 12]}-4{h[o + 13:o + 16]}-"
                   f"{variant}{h[o + 17:o + 20]}-{h[o + 20:o + 32]}")
    return out


def encode_runs(queue_name: str, actor_name: str,
                run_ids: Sequence[str]) -> list[tuple[str, bytes]]:
    """``(redis message id, encoded message)`` of ``actor_name(run_id)`` on ``queue_name``
    for each of ``run_ids``: what ``RedisBroker.enqueue`` stores for
    ``Message(queue_name, actor_name, args=(run_id,), kwargs={}, options={})``."""
    n = len(run_ids)
    ids = uuid4s(2 * n)
    now_ms = int(time.time() * 1000)  # one timestamp for the batch, as sent together
    head = (f'{{"queue_name":{encode_basestring_ascii(queue_name)},'
            f'"actor_name":{encode_basestring_ascii(actor_name)},"args":[')
    out = []
    for i, run_id in enumerate(run_ids):
        redis_id, message_id = ids[2 * i], ids[2 * i + 1]
        out.append((redis_id, (
            f'{head}{encode_basestring_ascii(run_id)}],"kwargs":{{}},'
            f'"options":{{"redis_message_id":"{redis_id}"}},'
            f'"message_id":"{message_id}","message_timestamp":{now_ms}}}').encode()))
    return out
