"""The delivery order of the claims benchmark: every run once, every 10th twice, later."""

from __future__ import annotations

from collections import Counter

from fleet.testing.contention import deliveries


def test_every_run_is_delivered_and_every_tenth_twice_after_its_first() -> None:
    ids = [f"r{i}" for i in range(1000)]
    order = deliveries(ids, every=10, lag=100)
    counts = Counter(order)
    assert set(counts) == set(ids)
    assert {i for i, n in counts.items() if n == 2} == set(ids[::10])
    assert max(counts.values()) == 2 and len(order) == 1100
    for i, run_id in enumerate(ids):
        if i % 10 == 0:
            first = order.index(run_id)
            second = order.index(run_id, first + 1)
            # a redelivery 100 deliveries later; the last runs' at the very end
            assert second - first > 50 if i < 900 else order[-10:].count(run_id) == 1


def test_few_runs_still_get_their_duplicates() -> None:
    order = deliveries(["a", "b", "c"], every=2, lag=100)
    assert order == ["a", "b", "c", "a", "c"]
