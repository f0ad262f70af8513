"""Run messages encoded without a ``Message`` each are the bytes Dramatiq writes."""

from __future__ import annotations

import uuid

from dramatiq import Message, Middleware

from fleet.settings import Settings
from fleet.worker import wire
from fleet.worker.broker import build_broker


def test_encoded_runs_are_byte_identical_to_dramatiqs_encoding() -> None:
    run_ids = ["0123abcd", 'quote " and é', "x" * 64]
    encoded = wire.encode_runs("fleet", "execute_graph", run_ids)
    assert len({redis_id for redis_id, _ in encoded}) == len(run_ids)
    for run_id, (redis_id, data) in zip(run_ids, encoded, strict=True):
        decoded = Message.decode(data)
        assert decoded.args == (run_id,) and decoded.actor_name == "execute_graph"
        assert decoded.options == {"redis_message_id": redis_id}
        # What RedisBroker.enqueue stores for the same message with the same ids.
        same = Message(queue_name="fleet", actor_name="execute_graph", args=(run_id,),
                       kwargs={}, options={}, message_id=decoded.message_id,
                       message_timestamp=decoded.message_timestamp,
                       ).copy(options={"redis_message_id": redis_id})
        assert same.encode() == data


def test_uuid4s_are_distinct_version_4_uuids() -> None:
    ids = wire.uuid4s(500)
    assert len(set(ids)) == 500
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


class _Counting(Middleware):
    def after_enqueue(self, broker: object, message: object, delay: object) -> None:
        pass


def test_a_middleware_that_hooks_enqueue_keeps_dramatiqs_path() -> None:
    broker = build_broker(Settings(redis_url="redis://127.0.0.1:1/0",  # type: ignore[call-arg]
                                   _env_file=None))  # connects lazily: no server needed
    try:
        assert wire.plain_enqueue(broker)
        broker.add_middleware(_Counting())
        assert not wire.plain_enqueue(broker)
    finally:
        broker.close()
