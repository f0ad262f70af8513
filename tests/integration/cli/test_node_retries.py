"""`runs show` and `runs trace` show every attempt of a retried node; an approval inside a
sub-graph parks the run until `runs approve`."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.integration.cli.conftest import Fleet, InlineWorker


def test_a_node_failing_once_completes_on_its_second_attempt_and_show_and_trace_say_so(
        fleet: Fleet, worker: InlineWorker, add_example: Callable[..., str]) -> None:
    add_example("retrying.yaml", user="local")
    out = fleet("runs", "submit", "retrying", "--wait", "--timeout", "30", "--json")
    assert out.code == 0, out.output
    run_id = out.json()["id"]
    assert out.json()["outputs"] == {"said": "fetched on a later attempt"}

    shown = fleet("runs", "show", run_id, "--json").json()
    fetch = sorted((n for n in shown["nodes"] if n["node_id"] == "fetch"),
                   key=lambda n: n["node_attempt"])
    assert [(n["node_attempt"], n["state"]) for n in fetch] == [(1, "failed"), (2, "completed")]
    assert fetch[0]["error"] == "RuntimeError: the service was busy (call 1)"

    text = fleet("runs", "show", run_id)
    assert text.code == 0
    assert "node attempts (retry policy)" in text.flat
    attempts = " ".join(text.stdout.split("node attempts")[1].replace("│", " ").split())
    assert re.search(r"fetch 1 failed \S+ RuntimeError: the service was busy \(call 1\) "
                     r"fetch 2 completed \S+ \[\"fetched\"\]", attempts), text.stdout

    trace = fleet("runs", "trace", run_id)
    assert trace.code == 0
    assert ("node fetch (failing), attempt 1, node attempt 1: RuntimeError: the service was "
            "busy (call 1)") in trace.flat
    assert re.search(r"│ retry\s+│ fetch\s+│", trace.stdout), trace.stdout  # the retry event
    assert "fetch #1 |" in trace.stdout and "fetch #2 |" in trace.stdout
    traced = fleet("runs", "trace", run_id, "--json").json()
    retries = [e for e in traced["events"] if e["kind"] == "retry"]
    assert [(e["source_node"], e["detail"]) for e in retries] == [
        ("fetch", "node 'fetch' attempt 1 of 3 failed (RuntimeError: the service was busy "
                  "(call 1)); attempt 2 in 0.2 s")]
    assert [e["node_attempt"] for e in traced["errors"]] == [1]


def test_an_approval_inside_a_sub_graph_waits_and_approve_resumes_it(
        fleet: Fleet, worker: InlineWorker, add_example: Callable[..., str]) -> None:
    add_example("subgraph_approval.yaml", user="local")
    out = fleet("runs", "submit", "subgraph-approval", "--wait", "--timeout", "30", "-q")
    assert out.code == 3, out.output  # the wait ends: the run waits for a human
    run_id = out.stdout.strip()
    waiting = fleet("runs", "show", run_id, "--json").json()
    assert waiting["run"]["state"] == "waiting_approval"
    assert waiting["run"]["waiting_reason"] == (
        "node 'review': sub-graph node 'ok': Publish these notes?")
    assert fleet("runs", "approve", run_id[:8]).code == 0
    done = fleet("runs", "watch", run_id[:8], "--timeout", "30")
    assert done.code == 0, done.output
    assert "published: Release notes for v1.2" in done.flat
    shown = fleet("runs", "show", run_id, "--json").json()
    # each node ran once: draft was replayed, the sub-graph carried on from its approval
    assert sorted((n["node_id"], n["state"]) for n in shown["nodes"]) == [
        ("draft", "completed"), ("publish", "completed"), ("review", "completed")]
