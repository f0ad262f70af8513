"""Masking of sample errors and redaction of URLs and tokens."""

from __future__ import annotations

import logging

import pytest

from fleet.alerts.masking import group, mask
from fleet.redact import RedactingFilter, describe_urls, redact


@pytest.mark.parametrize(("raw", "masked"), [
    ("row 42 of 1000 failed", "row <n> of <n> failed"),
    ("timeout after 30.5s", "timeout after <n>s"),
    ("user 3f2a9c1b-1111-4222-8333-444455556666 missing", "user <uuid> missing"),
    ("bad hash a1b2c3d4e5f6 at 0xdeadbeef", "bad hash <hex> at <hex>"),
    ("cannot open /var/lib/fleet/data.json", "cannot open <path>"),
    ("GET https://api.example.com/v1/items?id=7 -> 500", "GET <url> -> <n>"),
    ("mail to bob.smith@example.com bounced", "mail to <email> bounced"),
    ("plain words stay", "plain words stay"),
])
def test_mask(raw: str, masked: str) -> None:
    assert mask(raw) == masked


def test_group_counts_and_limits() -> None:
    errors = ["row 1 failed", "row 2 failed", "row 3 failed", "timeout 5", "timeout 9",
              "disk /a/b/c full", "", "   "]
    assert group(errors, 2) == [("row <n> failed", 3), ("timeout <n>", 2)]
    assert group(errors, 3)[2] == ("disk <path> full", 1)
    assert group([], 3) == []


def test_mask_truncates_long_text() -> None:
    assert len(mask("x" * 1000)) == 300


def test_redact_urls_and_tokens() -> None:
    text = ("posting to discord://1234/secret-token and json://127.0.0.1:8080/hook "
            "with token=abc123 and Authorization: Bearer s3cr3tvalue")
    out = redact(text)
    for secret in ("1234", "secret-token", "127.0.0.1", "abc123", "s3cr3tvalue"):
        assert secret not in out
    assert "discord://***" in out and "json://***" in out
    assert describe_urls(["discord://a/b", "mailto://u:p@x"]) == "discord://***, mailto://***"


def test_redacting_filter_rewrites_records() -> None:
    record = logging.LogRecord("apprise", logging.INFO, __file__, 1,
                               "sending to %s", ("discord://id/tok",), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "sending to discord://***"


def test_redact_request_lines() -> None:
    line = 'http://discord.com:443 "POST /api/webhooks/123/tok-en HTTP/1.1" 204 0'
    out = redact(line)
    assert "tok-en" not in out and "123" not in out and '"POST /***' in out
