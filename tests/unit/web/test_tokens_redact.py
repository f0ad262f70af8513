"""Token durations and the masking of secrets in shown run data."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fleet.errors import InvalidInput
from fleet.redact import redact_data
from fleet.tokens.service import hash_token, parse_duration


def test_durations() -> None:
    assert parse_duration("90d") == timedelta(days=90)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    for bad in ("", "0d", "90", "d", "-1h", "3y"):
        with pytest.raises(InvalidInput):
            parse_duration(bad)


def test_tokens_are_stored_as_sha256() -> None:
    assert hash_token("fleet_a_b") == hash_token("fleet_a_b") != hash_token("fleet_a_c")
    assert len(hash_token("x")) == 64


def test_redact_data_masks_secret_keys_and_urls() -> None:
    shown = redact_data({"api_key": "k-123", "nested": [{"password": "p"}],
                         "url": "https://u:pw@host/x", "note": "Bearer abcdefgh1234",
                         "count": 3, "token": None})
    assert shown == {"api_key": "***", "nested": [{"password": "***"}],
                     "url": "https://***", "note": "Bearer ***", "count": 3, "token": None}
