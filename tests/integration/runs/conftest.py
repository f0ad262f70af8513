"""Fixtures of the engine tests: a registry with test blocks and run helpers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session

from fleet.engine.blocks.base import Block, BlockContext
from fleet.engine.blocks.registry import BlockRegistry, builtin_blocks
from fleet.graphs.service import add_graph
from fleet.settings import Settings
from fleet.store.db import session_factory
from fleet.store.models import Run
from tests.helpers import make_run


class SimulatedCrash(BaseException):
    """Escapes the executor like a killed process: nothing is written after it."""


class Probe:
    """Counts executions per node and the peak number running at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[str, int] = {}
        self.running = 0
        self.peak = 0
        self.crash_on: dict[str, int] = {}  # node -> call number that crashes
        self.hooks: dict[str, Callable[[], None]] = {}  # node -> side effect on each call

    def enter(self, node: str) -> int:
        with self.lock:
            self.calls[node] = self.calls.get(node, 0) + 1
            self.running += 1
            self.peak = max(self.peak, self.running)
            return self.calls[node]

    def leave(self) -> None:
        with self.lock:
            self.running -= 1


def make_registry(probe: Probe) -> BlockRegistry:
    """Built-ins plus ``count`` (side-effect counter) and ``add`` (two-input fan-in)."""

    class CountBlock(Block):
        id = "count"
        description = "Counts its executions, sleeps, passes the value on."

        class Input(BaseModel):
            value: Any = None
            sleep_s: float = 0.0

        class Output(BaseModel):
            value: Any = None

        def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
            n = probe.enter(ctx.node_id)
            try:
                if inputs.sleep_s:
                    time.sleep(inputs.sleep_s)
                if ctx.node_id in probe.hooks:
                    probe.hooks[ctx.node_id]()
                if probe.crash_on.get(ctx.node_id) == n:
                    raise SimulatedCrash(ctx.node_id)
            finally:
                probe.leave()
            yield "value", inputs.value

    class AddBlock(Block):
        id = "add"
        description = "a + b"

        class Input(BaseModel):
            a: int
            b: int

        class Output(BaseModel):
            sum: int

        def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
            probe.enter(ctx.node_id)
            probe.leave()
            yield "sum", inputs.a + inputs.b

    return BlockRegistry([*builtin_blocks(), CountBlock, AddBlock])


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def registry(probe: Probe) -> BlockRegistry:
    return make_registry(probe)


@pytest.fixture
def open_session(engine: Engine) -> Callable[[], Session]:
    return session_factory(engine)


@pytest.fixture
def submit(session: Session, registry: BlockRegistry,
           now: datetime) -> Callable[..., Run]:
    """Store a graph definition and queue a run of it."""

    def _submit(definition: dict[str, Any], inputs: dict[str, Any] | None = None,
                user: str = "alice") -> Run:
        graph = add_graph(session, definition, user, now, registry,
                          settings=Settings(_env_file=None))  # type: ignore[call-arg]
        return make_run(session, now, user_id=user, graph_id=graph.id,
                        graph_version=graph.version, inputs=inputs or {},
                        max_attempts=graph.max_attempts)

    return _submit


def chain(n: int, block: str = "count", **inputs: Any) -> dict[str, Any]:
    """A linear graph n1 -> n2 -> ... of ``block`` nodes."""
    nodes = [{"id": f"n{i}", "block": block, "inputs": dict(inputs)} for i in range(1, n + 1)]
    nodes[0]["inputs"]["value"] = 1
    links = [{"source": f"n{i}.value", "sink": f"n{i + 1}.value"} for i in range(1, n)]
    return {"id": f"chain{n}", "nodes": nodes, "links": links}
