"""Search and coverage decisions that need no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fleet.engine.blocks.registry import default_registry
from fleet.search.coverage import classify, coverage_percent
from fleet.search.service import recency_factor, snippet, tokens
from fleet.search.sources import Source, block_sources, text_hash


def test_tokens_split_punctuation_and_underscores() -> None:
    assert tokens("HTTP_request, to: Slack!") == ["http", "request", "to", "slack"]
    assert tokens("  ...  ") == []


def test_recency_factor_halves_the_bonus_every_half_life() -> None:
    now = datetime(2026, 1, 31, tzinfo=UTC)
    assert recency_factor(now, now, weight=0.5, half_life_days=10) == 1.5
    assert recency_factor(now - timedelta(days=10), now, weight=0.5,
                          half_life_days=10) == 1.25
    assert recency_factor(None, now, weight=0.5, half_life_days=10) == 1.0
    assert recency_factor(now, now, weight=0.0, half_life_days=10) == 1.0


def test_classify_tells_missing_stale_and_orphans_apart() -> None:
    gaps = classify({"a": "1", "b": "2", "c": "3"}, {"b": "2", "c": "x", "d": "4"})
    assert (gaps.missing, gaps.stale, gaps.orphans) == (["a"], ["c"], ["d"])


def test_coverage_percent() -> None:
    assert coverage_percent(0, 0) == 100.0
    assert coverage_percent(4, 1) == 75.0
    assert coverage_percent(3, 3) == 0.0


def test_text_hash_changes_with_title_or_body() -> None:
    base = Source("graph", "u/g", "Title", "body")
    assert base.text_hash == text_hash("Title", "body")
    assert base.text_hash != text_hash("Title2", "body") != text_hash("Title", "body2")


def test_block_sources_describe_pins_and_credentials() -> None:
    http = {s.source_id: s for s in block_sources(default_registry())}["http_request"]
    assert "credential credential" in http.body and "input url" in http.body


def test_snippet_centres_on_the_first_word_found() -> None:
    body = "x " * 200 + "the needle is here" + " y" * 200
    assert "needle" in snippet(body, ["needle"])
