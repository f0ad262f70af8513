"""Fixtures of the command-line tests: invoking ``fleet``, graphs, and an inline worker."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from fleet.cli.context import CliContext
from fleet.cli.main import build_app
from fleet.engine.blocks.registry import default_registry
from fleet.graphs.files import load_graph_file
from fleet.graphs.service import add_graph
from fleet.runs.inline import run_inline
from fleet.settings import Settings
from fleet.store import runs as run_store
from fleet.store.db import session_factory

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@dataclass
class Result:
    """What one ``fleet`` invocation did."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr."""
        return self.stdout + self.stderr

    @property
    def flat(self) -> str:
        """stdout and stderr with every run of whitespace as one space (Rich wraps lines)."""
        return " ".join(self.output.split())

    def json(self) -> Any:
        """stdout as JSON."""
        return json.loads(self.stdout)


Fleet = Callable[..., Result]


@pytest.fixture
def fleet(settings: Settings) -> Fleet:
    """``fleet(*args)``: run a command on the test's database (as FLEET_USER=local)."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        ctx = CliContext(settings)
        try:
            result = runner.invoke(build_app(), list(args), obj=ctx, input=input)
        finally:
            ctx.close()
        assert "Traceback" not in result.output, result.output
        return Result(result.exit_code, result.stdout, result.stderr)

    return invoke


@pytest.fixture
def add_example(session: Session, settings: Settings, now: datetime) -> Callable[..., str]:
    """``add_example("hello.yaml", user="alice")``: store an example graph; its id."""

    def add(name: str, user: str = "alice") -> str:
        graph = add_graph(session, load_graph_file(EXAMPLES / name), user, now,
                          default_registry(), settings=settings)
        return graph.id

    return add


class InlineWorker:
    """A worker double: a thread that claims and executes every queued run, in this process."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.open_session = session_factory(engine)
        self.settings = settings
        self.registry = default_registry()
        self.stop = threading.Event()
        self.executed: list[str] = []
        self.thread = threading.Thread(target=self._loop, name="inline-worker", daemon=True)

    def _loop(self) -> None:
        while not self.stop.wait(0.05):
            with self.open_session() as s:
                queued = run_store.ids_in_state(s, "queued", 10)
                s.commit()
            for run_id in queued:
                out = run_inline(self.open_session, run_id, registry=self.registry,
                                 settings=self.settings)
                if out.state is not None:
                    self.executed.append(run_id)


@pytest.fixture
def worker(engine: Engine, settings: Settings) -> Iterator[InlineWorker]:
    """An inline worker executing queued runs while the test runs."""
    w = InlineWorker(engine, settings)
    w.thread.start()
    yield w
    w.stop.set()
    w.thread.join(10)


@pytest.fixture
def run_now(engine: Engine, settings: Settings) -> Callable[[str], str | None]:
    """``run_now(run_id)``: execute a queued run inline; its resting state."""
    open_session = session_factory(engine)

    def execute(run_id: str) -> str | None:
        return run_inline(open_session, run_id, registry=default_registry(),
                          settings=settings).state

    return execute
