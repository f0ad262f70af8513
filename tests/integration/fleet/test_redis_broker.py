"""fleet's Redis broker on a real Redis: garbage messages, and a dead consumer's fetched runs."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq import Message, Worker

from fleet.settings import Settings
from fleet.worker.broker import build_broker, make_batch_sender, make_sender
from fleet.worker.redis_broker import FleetRedisBroker, prefetched_run_ids

pytestmark = pytest.mark.redis


class _Recorder:
    """An actor on ``broker``'s ``fleet`` queue that records its argument; :meth:`drain`
    runs a real Dramatiq worker until it has seen ``expected`` messages, then stops it."""

    def __init__(self, broker: Any, actor_name: str, expected: int) -> None:
        self.broker, self.expected = broker, expected
        self.seen: list[Any] = []
        self.done = threading.Event()
        self.actor = dramatiq.actor(actor_name=actor_name, queue_name="fleet", broker=broker,
                                    max_retries=0)(self._record)

    def _record(self, value: Any) -> None:
        self.seen.append(value)
        if len(self.seen) == self.expected:
            self.done.set()

    def drain(self) -> list[Any]:
        worker = Worker(self.broker, worker_threads=1)
        worker.start()
        try:
            assert self.done.wait(15), f"only {self.seen} ran"
        finally:
            worker.stop(timeout=5_000)
            self.broker.close()
        return sorted(self.seen)


def test_a_garbage_message_is_dead_lettered_and_delays_nothing(
        redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(redis_url=redis_url, _env_file=None)  # type: ignore[call-arg]
    broker = build_broker(settings)
    assert isinstance(broker, FleetRedisBroker)
    recorder = _Recorder(broker, "work", 3)
    send = recorder.actor
    send.send(1)
    # Garbage bytes where a message should be, between good messages.
    client = redis.Redis.from_url(redis_url)
    client.hset("dramatiq:fleet.msgs", "garbage-id", b"\x00\xffnot json at all")
    client.rpush("dramatiq:fleet", "garbage-id")
    send.send(2)
    send.send(3)
    with caplog.at_level(logging.ERROR):
        assert recorder.drain() == [1, 2, 3]
    assert any("undecodable message in queue 'fleet'" in r.getMessage()
               and "not json" in r.getMessage() for r in caplog.records)
    assert client.zscore("dramatiq:fleet.XQ", "garbage-id") is not None  # dead-lettered
    client.close()


def test_the_runs_a_dead_consumer_fetched_are_found(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, _env_file=None)  # type: ignore[call-arg]
    broker = build_broker(settings)
    send = make_sender(broker, "fleet")
    for run_id in ("r1", "r2", "r3"):
        send(run_id)
    broker.enqueue(Message(queue_name="fleet", actor_name="execute_graph", args=(42,),
                           kwargs={}, options={}))  # not a run id
    # A consumer fetches and never acks: it "dies" holding them.
    dead: Any = FleetRedisBroker(url=redis_url)
    consumer = dead.consume("fleet", prefetch=10, timeout=1000)
    fetched = []
    deadline = time.monotonic() + 5
    while len(fetched) < 4 and time.monotonic() < deadline:
        msg = next(consumer)
        if msg is not None:
            fetched.append(msg)
    assert len(fetched) == 4
    assert sorted(prefetched_run_ids(broker, dead.broker_id, "fleet")) == ["r1", "r2", "r3"]
    assert prefetched_run_ids(broker, "someone-else", "fleet") == []
    # Taking answers each message once, to whoever takes it first, and removes it.
    assert sorted(prefetched_run_ids(broker, dead.broker_id, "fleet", take=True)) == [
        "r1", "r2", "r3"]
    assert prefetched_run_ids(broker, dead.broker_id, "fleet", take=True) == []
    client = redis.Redis.from_url(redis_url)
    assert client.scard(f"dramatiq:__acks__.{dead.broker_id}.fleet") == 0
    assert client.hlen("dramatiq:fleet.msgs") == 0  # Dramatiq will not requeue them again
    client.close()
    broker.close()


def test_the_reaper_sends_a_dead_workers_fetched_runs_ahead(redis_url: str, db_url: str) -> None:
    from datetime import timedelta

    from sqlmodel import Session

    from fleet.store.db import make_engine
    from fleet.store.models import Runtime
    from fleet.worker.app import build
    from fleet.worker.heartbeat import Heartbeat
    from tests.helpers import make_run

    settings = Settings(database_url=db_url, redis_url=redis_url,  # type: ignore[call-arg]
                        _env_file=None)
    app = build(settings, name="live")
    engine = make_engine(db_url)
    now = app.runtime.clock()
    with Session(engine, expire_on_commit=False) as s:
        waiting = [make_run(s, now) for _ in range(3)]
        held = make_run(s, now, state="running", runtime_id="dead-rt", lease_id="L",
                        lease_until=now - timedelta(seconds=1), attempt_count=1)
        dead: Any = FleetRedisBroker(url=redis_url)
        s.add(Runtime(id="dead-rt", hostname="h", pid=1, registered_at=now, last_seen_at=now,
                      info={"consumer_id": dead.broker_id}))
        s.commit()
    for r in [*waiting, held]:  # the held run's own message is in the dead acks too
        app.runtime.send_or_raise(r.id)
    consumer = dead.consume("fleet", prefetch=10, timeout=1000)
    got = 0
    deadline = time.monotonic() + 5
    while got < 4 and time.monotonic() < deadline:
        got += next(consumer) is not None
    heartbeat = Heartbeat(app.runtime)
    report = heartbeat.reap_only()
    assert report.reaped == [held.id]
    assert sorted(report.prefetched) == sorted(r.id for r in waiting)
    client = redis.Redis.from_url(redis_url)
    # the reaped run and the three fetched, each once
    assert client.llen("dramatiq:fleet-urgent") == 4
    # A later reap (another of the dead worker's leases expiring) sends nothing again.
    with Session(engine, expire_on_commit=False) as s:
        make_run(s, now, state="running", runtime_id="dead-rt", lease_id="L2",
                 lease_until=now - timedelta(seconds=1), attempt_count=1)
    again = heartbeat.reap_only()
    assert len(again.reaped) == 1 and again.prefetched == []
    assert client.llen("dramatiq:fleet-urgent") == 5
    client.close()
    app.broker.close()
    engine.dispose()


def test_batch_sent_runs_are_consumed_by_a_dramatiq_worker(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, _env_file=None)  # type: ignore[call-arg]
    broker = build_broker(settings)
    recorder = _Recorder(broker, "execute_graph", 5)
    make_batch_sender(broker, "fleet")([f"run-{i}" for i in range(5)])  # encoded directly
    assert recorder.drain() == [f"run-{i}" for i in range(5)]
    client = redis.Redis.from_url(redis_url)
    assert client.hlen("dramatiq:fleet.msgs") == 0  # each acked
    client.close()
