"""Where blocks run: inline blocks on the run's own thread, the others on the process's
shared block threads, which are reused from run to run."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from fleet.engine import threads
from fleet.engine.blocks.base import Block, BlockContext
from fleet.engine.blocks.registry import BlockRegistry, builtin_blocks
from fleet.engine.memory import run_in_memory

SEEN: dict[str, set[str]] = {}


class _Where(Block):
    description = "Records the thread it ran on."

    class Input(BaseModel):
        value: Any = None
        hang_s: float = 0.0

    class Output(BaseModel):
        value: Any = None

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        SEEN.setdefault(ctx.node_id, set()).add(threading.current_thread().name)
        if inputs.hang_s:
            time.sleep(inputs.hang_s)  # a wait the run cannot interrupt
        yield "value", inputs.value


class Inline(_Where):
    id = "where_inline"
    inline = True


class Threaded(_Where):
    id = "where_threaded"


REG = BlockRegistry([*builtin_blocks(), Inline, Threaded])


def _chain(*blocks: str, hang_s: float = 0.0) -> dict[str, Any]:
    nodes = [{"id": f"n{i}", "block": b, "inputs": {"hang_s": hang_s} if b == "where_threaded"
              else {}} for i, b in enumerate(blocks)]
    links = [{"source": f"n{i}.value", "sink": f"n{i + 1}.value"}
             for i in range(len(blocks) - 1)]
    return {"id": "where", "nodes": nodes, "links": links}


def test_an_inline_block_runs_on_the_runs_thread_and_the_others_do_not() -> None:
    SEEN.clear()
    result = run_in_memory(_chain("where_inline", "where_threaded", "where_inline"),
                           registry=REG)
    assert result.status == "completed"
    me = threading.current_thread().name
    assert SEEN["n0"] == {me} and SEEN["n2"] == {me}
    assert SEEN["n1"] and me not in SEEN["n1"]


def test_block_threads_are_reused_from_run_to_run() -> None:
    pool = threads.shared()
    run_in_memory(_chain("where_threaded"), registry=REG)  # at least one thread exists
    before = pool.started
    for _ in range(50):
        assert run_in_memory(_chain("where_threaded", "where_threaded"),
                             registry=REG).status == "completed"
    # one node at a time per run, runs one after the other: an idle thread is always there
    assert pool.started - before <= 1


def test_a_block_that_hangs_on_a_block_thread_does_not_hold_the_run_past_its_timeout() -> None:
    definition = {**_chain("where_threaded", hang_s=1.5), "timeout_s": 0.2}
    t0 = time.monotonic()
    result = run_in_memory(definition, registry=REG)
    assert result.status == "timeout"
    assert time.monotonic() - t0 < 1.0  # the run ended; the block's thread still sleeps


def test_a_zero_delay_runs_inline_and_a_real_delay_on_a_block_thread() -> None:
    delay = REG.get("delay")
    assert delay.runs_inline({"seconds": 0}) and not delay.runs_inline({"seconds": 0.01})
    assert not delay.runs_inline({})


def test_a_forked_child_gets_block_threads_of_its_own() -> None:
    import os

    run_in_memory(_chain("where_threaded"), registry=REG)  # the parent has an idle thread
    assert threads.shared().idle >= 1
    pid = os.fork()
    if pid == 0:  # the child: a threaded block must still run (exit code 0) and not hang
        ok = run_in_memory(_chain("where_threaded"), registry=REG).status == "completed"
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child's threaded block never ran")
