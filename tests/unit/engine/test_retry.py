"""Per-node retry policies in memory: attempts, backoff on the injected clock, ``errors:``."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from fleet.clock import utcnow
from fleet.engine.blocks.registry import default_registry
from fleet.engine.dataflow import Dataflow, DataflowResult
from fleet.engine.memory import run_in_memory
from fleet.engine.retry import RetryPolicy, error_types, parse_retry
from fleet.engine.validate import parse_valid, validate_graph
from fleet.errors import InvalidInput
from fleet.testing.clock import FixedClock

REG = default_registry()


def flaky_graph(retry: dict[str, Any] | None, **failing: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"id": "flaky", "block": "failing",
                            "inputs": {"value": "ok", **failing}}
    if retry is not None:
        node["retry"] = retry
    return {"id": "retrying",
            "nodes": [node, {"id": "say", "block": "template",
                             "inputs": {"template": "said {value}"}}],
            "links": [{"source": "flaky.value", "sink": "say.value"}],
            "outputs": {"said": "say.text"}}


def attempts(result: DataflowResult, node: str) -> list[tuple[int, str, str | None]]:
    return [(f.attempt, f.status, f.error) for f in result.finished
            if f.execution.node_id == node]


def test_a_node_failing_once_completes_on_its_second_attempt() -> None:
    result = run_in_memory(flaky_graph({"max_attempts": 2, "backoff_s": 0}, fail_on_call=1),
                           registry=REG, run_id="retry-once")
    assert result.status == "completed", result.error
    assert result.outputs == {"said": "said ok"}
    tries = attempts(result, "flaky")
    assert [(a, s) for a, s, _ in tries] == [(1, "failed"), (2, "completed")]
    assert "call 1" in (tries[0][2] or "")
    first, second = (f for f in result.finished if f.execution.node_id == "flaky")
    assert first.retry_note == ("node 'flaky' attempt 1 of 2 failed (RuntimeError: the "
                                "failing block failed on purpose (call 1)); attempt 2 in 0 s")
    # the failed attempt keeps its own key; the checkpoint keeps the execution's key
    assert first.stored_key == f"{first.execution.key}@1"
    assert second.stored_key == second.execution.key == first.execution.key
    # the downstream node ran once, after the attempt that succeeded
    assert attempts(result, "say") == [(1, "completed", None)]
    assert [f.record().attempt for f in result.finished] == [1, 2, 1]


def test_without_a_policy_the_first_failure_fails_the_run() -> None:
    result = run_in_memory(flaky_graph(None, fail_on_call=1), registry=REG, run_id="no-policy")
    assert result.status == "failed"
    assert "node 'flaky' (block 'failing') failed" in (result.error or "")
    assert attempts(result, "flaky") == [(1, "failed", result.finished[0].error)]


def test_errors_not_matching_the_error_fails_at_once() -> None:
    graph = flaky_graph({"max_attempts": 5, "backoff_s": 0, "errors": ["TimeoutError"]},
                        fail_on_call=1)
    result = run_in_memory(graph, registry=REG, run_id="on-mismatch")
    assert result.status == "failed"
    assert [(a, s) for a, s, _ in attempts(result, "flaky")] == [(1, "failed")]
    assert result.finished[0].retry_note is None


def test_errors_matches_a_base_class_or_the_full_name() -> None:
    for on in (["Exception"], ["RuntimeError"], ["builtins.RuntimeError"]):
        graph = flaky_graph({"max_attempts": 2, "backoff_s": 0, "errors": on}, fail_on_call=1)
        result = run_in_memory(graph, registry=REG, run_id=f"on-{on[0]}")
        assert result.status == "completed", (on, result.error)


def test_the_last_attempt_fails_the_run_with_its_error() -> None:
    result = run_in_memory(flaky_graph({"max_attempts": 3, "backoff_s": 0}),
                           registry=REG, run_id="exhausted")
    assert result.status == "failed"
    tries = attempts(result, "flaky")
    assert [(a, s) for a, s, _ in tries] == [(1, "failed"), (2, "failed"), (3, "failed")]
    assert "(call 3)" in (result.error or "")
    assert [f.retry_note is not None for f in result.finished] == [True, True, False]


def test_backoff_is_exponential_capped_and_waits_on_the_injected_clock() -> None:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    graph = parse_valid(flaky_graph({"max_attempts": 4, "backoff_s": 2, "max_backoff_s": 3}),
                        REG)
    start = clock()
    result = Dataflow(graph, {}, REG, run_id="backoff", concurrency=2, clock=clock,
                      sleep=sleep).run()
    assert result.status == "failed"
    notes = [f.retry_note for f in result.finished if f.retry_note]
    assert [n.rsplit(" in ", 1)[1] for n in notes] == ["2 s", "3 s", "3 s"]
    # every wait is short (stops are checked between), and together they are the backoff
    assert slept and max(slept) <= 0.05 + 1e-9
    assert (clock() - start).total_seconds() == pytest.approx(8.0)
    starts = [f.started_at for f in result.finished]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(starts)] \
        == pytest.approx([2.0, 3.0, 3.0])


def test_a_timeout_ends_a_run_waiting_for_a_retry() -> None:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    graph = parse_valid(flaky_graph({"max_attempts": 3, "backoff_s": 60}), REG)
    result = Dataflow(graph, {}, REG, run_id="retry-timeout", concurrency=1, clock=clock,
                      deadline=clock() + timedelta(seconds=10),
                      sleep=clock.advance).run()
    assert result.status == "timeout"
    assert [(a, s) for a, s, _ in attempts(result, "flaky")] == [(1, "failed")]


def test_policy_rules() -> None:
    policy = RetryPolicy(max_attempts=3, backoff_s=1.5, max_backoff_s=4, errors=("OSError",))
    assert [policy.delay_s(n) for n in (1, 2, 3)] == [1.5, 3.0, 4.0]
    assert policy.allows(1, error_types(ConnectionRefusedError()))
    assert not policy.allows(3, error_types(ConnectionRefusedError()))
    assert not policy.allows(1, error_types(ValueError()))
    problems: list[str] = []
    assert parse_retry(None, "n", problems) is None
    assert parse_retry({}, "n", problems) == RetryPolicy()
    assert parse_retry({"errors": "TimeoutError"}, "n", problems) == RetryPolicy(
        errors=("TimeoutError",))
    assert problems == []


def test_bad_policies_are_refused_naming_node_and_field_all_at_once() -> None:
    graph = flaky_graph({"max_attempts": 0, "backoff_s": -1, "max_backoff_s": "soon",
                         "errors": ["Not An Error", 3], "jitter": True})
    graph["nodes"][1]["retry"] = [3]
    with pytest.raises(InvalidInput) as info:
        validate_graph(graph, REG)
    assert info.value.problems == [
        "node 'flaky' retry: unknown field 'jitter' (fields: max_attempts, backoff_s, "
        "max_backoff_s, errors)",
        "node 'flaky' retry 'max_attempts': must be an integer from 1 to 100, got 0",
        "node 'flaky' retry 'backoff_s': must be a number of seconds from 0 to 86400, got -1",
        "node 'flaky' retry 'max_backoff_s': must be a number of seconds from 0 to 86400, "
        "got 'soon'",
        "node 'flaky' retry 'errors': 'Not An Error' is not an exception class name (e.g. "
        "TimeoutError or httpx.ConnectError)",
        "node 'flaky' retry 'errors': 3 is not an exception class name (e.g. TimeoutError or "
        "httpx.ConnectError)",
        "node 'say' retry: must be a mapping with max_attempts, backoff_s, max_backoff_s and "
        "errors, got [3]",
    ]
    with pytest.raises(InvalidInput) as info:
        validate_graph(flaky_graph({"backoff_s": 10, "max_backoff_s": 5}), REG)
    assert info.value.problems == [
        "node 'flaky' retry 'max_backoff_s': 5 is less than backoff_s 10"]


def test_a_yaml_on_key_is_explained() -> None:
    graph = yaml.safe_load("""
id: g
nodes:
  - {id: n, block: failing, retry: {max_attempts: 2, on: [TimeoutError]}}
""")
    with pytest.raises(InvalidInput) as info:
        validate_graph(graph, REG)
    assert info.value.problems == [
        "node 'n' retry: YAML reads the key 'on' as true; name the errors to retry with "
        "'errors'"]


def test_a_stop_during_a_long_backoff_ends_the_run_at_once() -> None:
    graph = parse_valid(flaky_graph({"max_attempts": 2, "backoff_s": 600}), REG)
    failed = threading.Event()
    flow = Dataflow(graph, {}, REG, run_id="stop-in-backoff", concurrency=1, clock=utcnow,
                    on_finished=lambda fin, _events: failed.set() if fin.retry_note else None,
                    should_stop=lambda: "cancelled" if failed.is_set() else None)
    t0 = time.monotonic()
    result = flow.run()
    assert (result.status, result.reason) == ("stopped", "cancelled")
    assert time.monotonic() - t0 < 5  # not the 600 s backoff
    assert [(a, s) for a, s, _ in attempts(result, "flaky")] == [(1, "failed")]
