"""The shared snapshot: one load per TTL whatever the number of readers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fleet.testing import MonotonicClock
from fleet.web.snapshot import SharedSnapshot


def test_many_readers_share_one_load() -> None:
    clock = MonotonicClock()
    loads: list[int] = []
    gate = threading.Event()

    def load() -> int:
        gate.wait(2)
        loads.append(1)
        return len(loads)

    snap = SharedSnapshot(load, ttl_s=5, background=False, monotonic=clock)
    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(snap.get) for _ in range(100)]
        gate.set()
        values = {f.result() for f in futures}
    assert values == {1} and len(loads) == 1
    clock.advance(4.9)
    assert snap.get() == 1 and len(loads) == 1
    clock.advance(0.2)
    assert snap.get() == 2  # stale: refreshed once


def test_background_refresh_serves_the_old_value_meanwhile() -> None:
    clock = MonotonicClock()
    release = threading.Event()
    values = iter([1, 2])

    def load() -> int:
        value = next(values)
        if value == 2:
            release.wait(5)
        return value

    snap = SharedSnapshot(load, ttl_s=5, background=True, monotonic=clock)
    assert snap.get() == 1  # the first value is loaded in the reader's thread
    clock.advance(6)
    assert snap.get() == 1  # stale: refreshed in the background, the old value served
    release.set()
    for _ in range(200):
        if snap.loads == 2:
            break
        threading.Event().wait(0.01)
    assert snap.get() == 2


def test_a_failed_refresh_keeps_the_previous_value() -> None:
    clock = MonotonicClock()
    calls = {"n": 0}

    def load() -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("database down")
        return calls["n"]

    snap = SharedSnapshot(load, ttl_s=5, background=False, monotonic=clock)
    assert snap.get() == 1
    clock.advance(6)
    assert snap.get() == 1  # the refresh failed: previous value
    assert snap.get() == 1 and calls["n"] == 2  # and it is not retried on every read
    clock.advance(6)
    assert snap.get() == 3
