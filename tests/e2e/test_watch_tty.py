"""`fleet runs watch` in a real terminal (a pty): a three-node run advancing node by node.

The run executes in this process through the real engine; each node is a gate the
test opens, so every frame the watcher must show is reached and checked in turn.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from fleet.engine.blocks.base import Block, BlockContext
from fleet.engine.blocks.registry import BlockRegistry, default_registry
from fleet.graphs.service import add_graph
from fleet.runs.inline import run_inline
from fleet.runs.submit import submit
from fleet.settings import Settings
from fleet.store.db import make_engine, session_factory
from fleet.testing import RecordingSender

GATES: dict[str, threading.Event] = {}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")
FLEET = str(Path(sys.executable).parent / "fleet")

GRAPH: dict[str, Any] = {
    "id": "three-gates",
    "nodes": [{"id": "first", "block": "gate", "inputs": {"key": "first", "value": "x"}},
              {"id": "second", "block": "gate", "inputs": {"key": "second"}},
              {"id": "third", "block": "gate", "inputs": {"key": "third"}}],
    "links": [{"source": "first.value", "sink": "second.value"},
              {"source": "second.value", "sink": "third.value"}],
    "outputs": {"last": "third.value"},
}


class GateBlock(Block):
    """Waits until the test opens its gate, then passes the value on."""

    id = "gate"
    description = "Waits for the test to open the gate named key."

    class Input(BaseModel):
        key: str
        value: Any = None

    class Output(BaseModel):
        value: Any = None

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        if not GATES[inputs.key].wait(60):
            raise RuntimeError(f"gate {inputs.key} was never opened")
        yield "value", inputs.value


class Terminal:
    """A child process on a pty of 120x40, its screen output collected as text."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     close_fds=True, start_new_session=True)
        os.close(slave)
        self.master = master
        self.raw = b""
        self.seen = 0  # text before this offset was matched already
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            if not chunk:
                return
            self.raw += chunk

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw.decode("utf-8", "replace"))

    def expect(self, *patterns: str, timeout: float = 30) -> str:
        """Wait until one frame printed after the last match holds every pattern."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text
            fresh = text[self.seen:]
            frames = fresh.split("run ") if fresh else []
            for frame in frames:
                if all(re.search(p, frame) for p in patterns):
                    self.seen = text.rindex(frame) + len(frame)
                    return frame
            if self.proc.poll() is not None and not frames:
                break
            time.sleep(0.05)
        raise AssertionError(f"no frame with {patterns} in:\n{self.text[-3000:]}")


def _row(node: str, state: str) -> str:
    return rf"{node}\s+│\s+gate\s+│\s+{state}"


@pytest.mark.slow
def test_watch_follows_a_three_node_run_in_a_terminal(tmp_path: Path,
                                                      sqlite_template: Path) -> None:
    db = tmp_path / "watch.sqlite"
    shutil.copy(sqlite_template, db)
    url = f"sqlite:///{db}"
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    registry: BlockRegistry = default_registry()
    registry.register(GateBlock)
    GATES.update({k: threading.Event() for k in ("first", "second", "third")})
    engine = make_engine(url)
    open_session = session_factory(engine)
    now = datetime.now(UTC)
    with open_session() as s:
        add_graph(s, GRAPH, "local", now, registry, settings=settings)
        run = submit(s, graph_id="three-gates", version=None, inputs={}, user_id="local",
                     now=now, send=RecordingSender(), registry=registry, settings=settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update({"FLEET_DATABASE_URL": url, "TERM": "xterm-256color"})
    env.pop("COLUMNS", None)
    term = Terminal([FLEET, "runs", "watch", run.id[:8], "--interval", "0.1"], env)
    executor = threading.Thread(target=run_inline, args=(open_session, run.id),
                                kwargs={"registry": registry, "settings": settings},
                                daemon=True)
    try:
        term.expect(r"queued", "not started", _row("first", "pending"))
        executor.start()
        term.expect(r"running", r"elapsed \d+\.\ds", r"0/3 nodes done", r"current:\s+first",
                    _row("first", "running"), _row("second", "pending"))
        GATES["first"].set()
        term.expect(r"1/3 nodes done", r"current:\s+second", _row("first", "completed"),
                    _row("second", "running"), _row("third", "pending"))
        GATES["second"].set()
        term.expect(r"2/3 nodes done", r"current:\s+third", _row("second", "completed"),
                    _row("third", "running"))
        GATES["third"].set()
        code = term.proc.wait(timeout=30)
        term._reader.join(5)
        final = term.text[term.seen:]
        assert code == 0, term.text[-3000:]
        assert re.search(r"completed in \d+\.\d+s", final) and "last: x" in final, final
        assert "3/3 nodes done" in final
        assert "Traceback" not in term.text
    finally:
        for gate in GATES.values():
            gate.set()
        if term.proc.poll() is None:
            term.proc.kill()
        executor.join(30) if executor.is_alive() else None
        os.close(term.master)
        engine.dispose()
