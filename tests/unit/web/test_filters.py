"""The one run filter: parsing names every bad field, and params() round-trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleet.errors import InvalidInput
from fleet.runs.filters import RunFilter, parse
from fleet.store.keyset import decode, encode

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_parse_and_round_trip() -> None:
    f = parse({"state": ["queued,running", "failed"], "graph": "hello", "user": "ann",
               "schedule": "s1", "error": "E-RUN-002", "since": "24h",
               "until": "2026-03-02T11:00:00Z"}, NOW)
    assert f.states == ("queued", "running", "failed")
    assert f.since == NOW - timedelta(hours=24)
    assert f.until == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    assert parse(f.params(), NOW) == f
    assert RunFilter.from_dict(f.to_dict()) == f
    assert parse({}, NOW).is_empty()


def test_every_bad_field_is_named() -> None:
    with pytest.raises(InvalidInput) as err:
        parse({"state": "sleeping", "since": "last week", "graph": ["a", "b"],
               "user": "x" * 300}, NOW)
    fields = sorted(p.split(":")[0] for p in err.value.problems)
    assert fields == ["graph", "since", "state", "user"]
    with pytest.raises(InvalidInput) as err:
        parse({"since": "1h", "until": "2h"}, NOW)
    assert err.value.problems == ["until: must be after since"]


def test_scope_limits_the_user() -> None:
    assert RunFilter().where("ann").user_id == "ann"
    assert RunFilter(user="ann").where("ann").nothing is False
    assert RunFilter(user="bob").where("ann").nothing is True  # another user's: nothing
    assert RunFilter(user="bob").where(None).user_id == "bob"  # an admin names anyone
    assert RunFilter(states=("failed",)).with_states(("queued",)) is None
    assert RunFilter().with_states(("queued",)) == RunFilter(states=("queued",))


def test_cursors_round_trip_and_refuse_garbage() -> None:
    assert decode(encode(NOW, "abc", 3), 3) == [NOW, "abc", 3]
    for bad in ("", "!!!", encode("a"), encode(True, "x")):
        with pytest.raises(InvalidInput) as err:
            decode(bad, 2)
        assert err.value.problems[0].startswith("cursor:")
