"""Built-in blocks run in memory: templates, JSON fields, branches, HTTP, sub-graphs, failures."""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fleet.engine import threads
from fleet.engine.blocks import failing
from fleet.engine.blocks.base import Block
from fleet.engine.blocks.registry import BlockRegistry, builtin_blocks, default_registry
from fleet.engine.memory import run_in_memory
from fleet.errors import InvalidInput, NotFound

REG = default_registry()


def one(block: str, inputs: dict[str, Any], graph_id: str = "t") -> dict[str, Any]:
    result = run_in_memory({"id": graph_id, "nodes": [{"id": "n", "block": block,
                                                        "inputs": inputs}]}, registry=REG)
    if result.status != "completed":
        raise AssertionError(f"{result.status}: {result.error}")
    return result.outputs


def failure(block: str, inputs: dict[str, Any]) -> str:
    result = run_in_memory({"id": "t", "nodes": [{"id": "n", "block": block,
                                                   "inputs": inputs}]}, registry=REG)
    assert result.status == "failed"
    return result.error or ""


def test_registry_has_the_builtins_and_refuses_duplicates() -> None:
    assert {"constant", "template", "json_field", "branch", "delay", "http_request", "subgraph",
            "approval", "tool", "failing"} <= set(REG.ids())
    with pytest.raises(NotFound, match="unknown block 'nope'"):
        REG.get("nope")

    class Other(Block):
        id = "constant"

        def run(self, inputs: Any, ctx: Any) -> Any:
            yield "value", 1

    with pytest.raises(InvalidInput, match="already registered"):
        BlockRegistry(builtin_blocks()).register(Other)
    assert REG.get("http_request").describe()["outputs"]["status"]["type"] == "int"


def test_template_and_its_errors() -> None:
    assert one("template", {"template": "{value}-{x}", "value": 1,
                            "values": {"x": "y"}}) == {"n.text": "1-y"}
    assert "{who}" in failure("template", {"template": "hi {who}"})


def test_json_field() -> None:
    data = {"items": [{"name": "a"}, {"name": "b"}]}
    assert one("json_field", {"data": data, "path": "items.1.name"}) == {"n.value": "b"}
    assert one("json_field", {"data": json.dumps(data), "path": "items.0.name"}) == {
        "n.value": "a"}
    assert one("json_field", {"data": data, "path": "items.7"}) == {"n.missing": "items.7"}
    assert "not valid JSON" in failure("json_field", {"data": "{oops", "path": "a"})


@pytest.mark.parametrize(("op", "value", "compare", "pin"), [
    ("gt", 5, 3, "true"), ("gt", 2, 3, "false"), ("eq", "a", "a", "true"),
    ("contains", [1, 2], 2, "true"), ("truthy", "", None, "false")])
def test_branch(op: str, value: Any, compare: Any, pin: str) -> None:
    assert one("branch", {"op": op, "value": value, "compare": compare}) == {f"n.{pin}": value}


def test_failing_block_fails_on_its_nth_call_only() -> None:
    definition = {"id": "f", "nodes": [
        {"id": "src", "block": "constant", "inputs": {"items": [1, 2, 3]}},
        {"id": "f", "block": "failing", "inputs": {"fail_on_call": 2}}],
        "links": [{"source": "src.value", "sink": "f.value"}]}
    result = run_in_memory(definition, registry=REG, concurrency=1, run_id="nth")
    failed = [f for f in result.finished if f.status == "failed"]
    ok = [f for f in result.finished if f.execution.node_id == "f" and f.status == "completed"]
    assert result.status == "failed" and len(failed) == 1 and "(call 2)" in (failed[0].error or "")
    assert len(ok) == 1
    assert "on purpose" in failure("failing", {})


def test_failing_blocks_call_counts_stay_bounded_over_many_runs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker executes millions of runs: the per-(run, node) counter must not keep them all.
    monkeypatch.setattr(failing, "_calls", OrderedDict())
    monkeypatch.setattr(failing, "MAX_TRACKED", 50)
    for i in range(500):
        assert failing.count_call(f"run-{i}", "f") == 1
    assert len(failing._calls) == 50
    assert failing.calls("run-499", "f") == 1 and failing.calls("run-0", "f") == 0
    # a node called again is the most recent: it outlives older ones
    failing.count_call("run-450", "f")
    for i in range(500, 549):
        failing.count_call(f"run-{i}", "f")
    assert failing.calls("run-450", "f") == 2 and failing.calls("run-451", "f") == 0


def test_invalid_runtime_input_names_the_pin() -> None:
    definition = {"id": "bad", "nodes": [
        {"id": "c", "block": "constant", "inputs": {"value": "soon"}},
        {"id": "d", "block": "delay"}], "links": [{"source": "c.value", "sink": "d.seconds"}]}
    result = run_in_memory(definition, registry=REG)
    assert result.status == "failed" and "input pin 'seconds'" in (result.error or "")


def test_subgraph_runs_nested_graph() -> None:
    inner = {"id": "inner",
             "inputs": {"name": {"type": "string", "required": True, "targets": ["t.value"]}},
             "nodes": [{"id": "t", "block": "template", "inputs": {"template": "hi {value}"}}],
             "outputs": {"greeting": "t.text"}}
    out = one("subgraph", {"graph": inner, "inputs": {"name": "ann"}})
    assert out == {"n.outputs": {"greeting": "hi ann"}}
    bad = failure("subgraph", {"graph": {**inner, "nodes": [{"id": "t", "block": "zzz"}]},
                               "inputs": {"name": "x"}})
    assert "unknown block 'zzz'" in bad or "is invalid" in bad


def test_async_and_sync_custom_blocks_with_unknown_pin() -> None:
    from pydantic import BaseModel

    class Gen(Block):
        id = "gen"

        class Output(BaseModel):
            x: int = 0

        async def run(self, inputs: Any, ctx: Any) -> Any:
            yield "x", 1
            yield "x", 2

    class Bad(Block):
        id = "bad"

        def run(self, inputs: Any, ctx: Any) -> Iterator[tuple[str, Any]]:
            yield "nowhere", 1

    reg = BlockRegistry([*builtin_blocks(), Gen, Bad])
    res = run_in_memory({"id": "g", "nodes": [{"id": "g", "block": "gen"}]}, registry=reg)
    assert res.status == "completed" and res.finished[0].outputs == [("x", 1), ("x", 2)]
    res = run_in_memory({"id": "b", "nodes": [{"id": "b", "block": "bad"}]}, registry=reg)
    assert res.status == "failed" and "unknown output pin 'nowhere'" in (res.error or "")


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(5)
            _SLOW_DONE.set()
        if self.path.startswith("/missing"):
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps({"path": self.path, "agent": self.headers.get("x-agent")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        received = json.loads(self.rfile.read(length))
        body = json.dumps({"echo": received}).encode()
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


_SLOW_DONE = threading.Event()


@pytest.fixture
def http_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_request_block_against_local_server(http_url: str) -> None:
    definition = {
        "id": "http",
        "nodes": [
            {"id": "get", "block": "http_request",
             "inputs": {"url": f"{http_url}/hello", "params": {"q": "1"},
                        "headers": {"x-agent": "fleet"}}},
            {"id": "pick", "block": "json_field", "inputs": {"path": "agent"}},
            {"id": "post", "block": "http_request",
             "inputs": {"url": f"{http_url}/items", "method": "POST",
                        "json_body": {"n": 1}}},
        ],
        "links": [{"source": "get.data", "sink": "pick.data"}],
        "outputs": {"agent": "pick.value", "status": "get.status", "path": "get.data",
                    "created": "post.status", "echo": "post.data"},
    }
    result = run_in_memory(definition, registry=REG)
    assert result.status == "completed", result.error
    assert result.outputs["agent"] == "fleet" and result.outputs["status"] == 200
    assert result.outputs["path"] == {"path": "/hello?q=1", "agent": "fleet"}
    assert result.outputs["created"] == 201 and result.outputs["echo"] == {"echo": {"n": 1}}


def test_http_request_keeps_the_urls_query_string_and_merges_params(http_url: str) -> None:
    out = one("http_request", {"url": f"{http_url}/p?tag=a"})
    assert out["n.data"]["path"] == "/p?tag=a"
    out = one("http_request", {"url": f"{http_url}/p?tag=a", "params": {"n": 2}})
    assert out["n.data"]["path"] == "/p?tag=a&n=2"


def test_a_timed_out_run_cancels_a_slow_http_request(http_url: str) -> None:
    import time

    definition = {"id": "slow", "timeout_s": 0.5,
                  "nodes": [{"id": "get", "block": "http_request",
                             "inputs": {"url": f"{http_url}/slow", "timeout_s": 30}}]}
    result = run_in_memory(definition, registry=REG, run_id="cancelme")
    assert result.status == "timeout"
    # The block got the signal and ended: its thread is not left waiting on the
    # server's 5 s (nor httpx's 30 s) for a run that is over.
    deadline = time.monotonic() + 2
    while threads.shared().busy:
        assert time.monotonic() < deadline, "the http_request block kept running"
        time.sleep(0.05)
    assert not _SLOW_DONE.is_set()


def test_http_request_block_error_status_fails_node(http_url: str) -> None:
    assert "404" in failure("http_request", {"url": f"{http_url}/missing"})
    assert one("http_request", {"url": f"{http_url}/missing", "raise_for_status": False})[
        "n.status"] == 404
    assert "must start with http" in failure("http_request", {"url": "ftp://x"})


def test_entry_point_blocks_are_loaded_and_broken_ones_skipped(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from fleet.engine.blocks import registry as registry_module

    class Plugin(Block):
        id = "plugin_block"

        def run(self, inputs: Any, ctx: Any) -> Any:
            yield "value", 1

    class FakeEntryPoint:
        def __init__(self, name: str, obj: Any) -> None:
            self.name, self.value, self._obj = name, f"pkg:{name}", obj

        def load(self) -> Any:
            if isinstance(self._obj, Exception):
                raise self._obj
            return self._obj

    seen: list[str] = []

    def fake_entry_points(group: str) -> list[FakeEntryPoint]:
        seen.append(group)
        return [FakeEntryPoint("good", [Plugin]), FakeEntryPoint("bad", ImportError("gone"))]

    monkeypatch.setattr(registry_module, "entry_points", fake_entry_points)
    reg = registry_module.default_registry()
    assert seen == ["fleet.blocks"]
    assert "plugin_block" in reg and "constant" in reg
    assert "bad" in caplog.text and "gone" in caplog.text


def test_a_block_without_run_is_refused_at_registration() -> None:
    from fleet.engine.blocks.base import Block
    from fleet.engine.blocks.registry import BlockRegistry

    class NoRun(Block):
        id = "no_run"

    registry = BlockRegistry()
    with pytest.raises(InvalidInput, match=r"NoRun \('no_run'\) does not implement run\(\)"):
        registry.register(NoRun)
    assert registry.find("no_run") is None
