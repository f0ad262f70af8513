"""Engine throughput: node executions per second on a 50-node fan-out/fan-in graph.

The same work is measured three ways in one process:

- ``plain``: the 50 work functions called one after the other (the ceiling);
- ``memory``: the graph executed by the engine's core, nothing persisted; its
  blocks never wait, so they run on the run's own thread (``Block.inline``);
  the same graph with blocks that may wait (on block threads) is printed too;
- ``durable``: the graph executed as a run with ``run_inline``: claim, a
  checkpoint (NodeRun + routed output events, lease-fenced) per node, the
  final state and tracker, on a temporary SQLite file and on a throwaway
  PostgreSQL server (or FLEET_TEST_POSTGRES_URL; or only ``--database-url``).

Prints a table on stderr with the per-node overhead of the durable path in ms
beside plain calls and, on its last line, one JSON object. ``--smoke`` runs for
a few seconds (CI) and exits 1 when the in-memory engine falls below its floor
against plain calls.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, create_model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fleet.engine.blocks.base import Block, BlockContext  # noqa: E402
from fleet.engine.blocks.registry import BlockRegistry, builtin_blocks  # noqa: E402
from fleet.engine.memory import run_in_memory  # noqa: E402
from fleet.graphs.service import add_graph  # noqa: E402
from fleet.runs.inline import run_inline  # noqa: E402
from fleet.settings import Settings  # noqa: E402
from fleet.store import migrate  # noqa: E402
from fleet.store.db import make_engine, session_factory  # noqa: E402
from fleet.store.models import Run  # noqa: E402
from fleet.testing.servers import start_postgres  # noqa: E402

WIDTH = 48  # workers; with the source and the join: 50 nodes
ROUNDS = 200  # sha256 rounds per node: a small but real piece of work
REPEAT = 5  # in-process modes: the best of 5 rounds (the machine is shared)


def work(value: str) -> str:
    """The per-node work: a few hundred hashes."""
    digest = value.encode()
    for _ in range(ROUNDS):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()[:16]


class WorkBlock(Block):
    id = "bench_work"
    description = "Hash the input a few hundred times."
    inline = True  # pure CPU, never waits: runs on the run's own thread

    class Input(BaseModel):
        value: str

    class Output(BaseModel):
        value: str

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        yield "value", work(inputs.value)


GatherInput = create_model(  # type: ignore[call-overload]
    "GatherInput", **{f"i{k}": (str, ...) for k in range(WIDTH)})


class GatherBlock(Block):
    id = "bench_gather"
    description = "Fan-in of every worker."
    Input = GatherInput
    inline = True

    class Output(BaseModel):
        value: str

    def run(self, inputs: Any, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        yield "value", work("".join(getattr(inputs, f"i{k}") for k in range(WIDTH)))


class ThreadedWork(WorkBlock):
    """The same block run as a block that may wait would be: on a block thread."""

    id = "bench_work_threaded"
    inline = False


class ThreadedGather(GatherBlock):
    id = "bench_gather_threaded"
    inline = False


def threaded(definition: dict[str, Any]) -> dict[str, Any]:
    """``definition`` with every block swapped for its threaded twin."""
    swap = {"bench_work": ThreadedWork.id, "bench_gather": ThreadedGather.id}
    return {**definition, "nodes": [{**n, "block": swap[n["block"]]}
                                    for n in definition["nodes"]]}


def graph(graph_id: str = "bench-fan") -> dict[str, Any]:
    """source -> 48 workers -> join."""
    nodes: list[dict[str, Any]] = [{"id": "src", "block": "bench_work",
                                    "inputs": {"value": "seed"}}]
    links = []
    for k in range(WIDTH):
        nodes.append({"id": f"w{k}", "block": "bench_work"})
        links.append({"source": "src.value", "sink": f"w{k}.value"})
        links.append({"source": f"w{k}.value", "sink": f"join.i{k}"})
    nodes.append({"id": "join", "block": "bench_gather"})
    return {"id": graph_id, "nodes": nodes, "links": links, "outputs": {"out": "join.value"}}


def plain_once() -> str:
    src = work("seed")
    outs = [work(src) for _ in range(WIDTH)]
    return work("".join(outs))


def measure(fn: Any, runs: int, repeat: int = 1) -> tuple[float, Any]:
    """Seconds for ``runs`` calls of ``fn`` (after one warm-up call); with ``repeat``, the
    best of that many rounds (as timeit does: the others were slowed by something else)."""
    fn()  # warm-up
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(runs):
            result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def durable(url: str, runs: int, concurrency: int, registry: BlockRegistry,
            expected: Any) -> float:
    """Seconds for ``runs`` durable runs of the graph on the database at ``url``."""
    migrate.upgrade(url)
    engine = make_engine(url)
    open_session = session_factory(engine)
    settings = Settings(database_url=url, node_concurrency=concurrency,
                        _env_file=None)  # type: ignore[call-arg]
    now = datetime.now(UTC)
    with open_session() as s:
        g = add_graph(s, graph(f"bench-fan-{int(time.time())}"), "bench", now, registry,
                      settings=settings)
        gid, gver = g.id, g.version

    def durable_once() -> Any:
        with open_session() as s:
            at = datetime.now(UTC)
            run = Run(user_id="bench", graph_id=gid, graph_version=gver, created_at=at,
                      queued_at=at, state_changed_at=at)
            s.add(run)
            s.commit()
            run_id = run.id
        out = run_inline(open_session, run_id, registry=registry, settings=settings)
        assert out.state == "completed", out.error
        assert out.outputs is not None
        return out.outputs["out"]

    try:
        seconds, got = measure(durable_once, runs)
    finally:
        engine.dispose()
    assert got == expected, "the durable engine computed something else than the plain calls"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run for CI")
    parser.add_argument("--runs", type=int, default=None, help="graph runs per mode")
    parser.add_argument("--concurrency", type=int, default=4, help="node concurrency")
    parser.add_argument("--database-url", default=None,
                        help="measure the durable path on this database only (default: a "
                             "temporary SQLite file and a throwaway PostgreSQL server)")
    args = parser.parse_args()
    runs = args.runs or (3 if args.smoke else 30)
    nodes = WIDTH + 2
    registry = BlockRegistry([*builtin_blocks(), WorkBlock, GatherBlock, ThreadedWork,
                              ThreadedGather])
    definition = graph()

    plain_s, expected = measure(plain_once, runs, REPEAT)

    def memory_once() -> Any:
        result = run_in_memory(definition, registry=registry, concurrency=args.concurrency)
        assert result.status == "completed", result.error
        return result.outputs["out"]

    memory_s, got = measure(memory_once, runs, REPEAT)
    assert got == expected, "the engine computed something else than the plain calls"
    on_threads = threaded(definition)

    def threaded_once() -> Any:
        result = run_in_memory(on_threads, registry=registry, concurrency=args.concurrency)
        assert result.status == "completed", result.error
        return result.outputs["out"]

    threaded_s, got = measure(threaded_once, runs, REPEAT)
    assert got == expected, "the engine computed something else than the plain calls"

    def rate(seconds: float) -> float:
        return round(nodes * runs / seconds, 1)

    durable_s: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.database_url:
            name = args.database_url.split(":", 1)[0].split("+", 1)[0]
            durable_s[name] = durable(args.database_url, runs, args.concurrency, registry,
                                      expected)
        else:
            durable_s["sqlite"] = durable(f"sqlite:///{tmp}/bench.sqlite", runs,
                                          args.concurrency, registry, expected)
            server = start_postgres()
            try:
                durable_s["postgresql"] = durable(server.url, runs, args.concurrency,
                                                  registry, expected)
            finally:
                server.stop()

    goal, smoke_floor = 0.5, 0.25  # in-memory engine vs plain calls; 3 smoke runs are noisy
    figures: dict[str, Any] = {
        "bench": "engine",
        "graph_nodes": nodes,
        "runs": runs,
        "node_concurrency": args.concurrency,
        "plain_node_calls_per_s": rate(plain_s),
        "plain_ms_per_node": round(plain_s / (nodes * runs) * 1000, 3),
        "memory_node_execs_per_s": rate(memory_s),
        "memory_vs_plain": round(plain_s / memory_s, 4),
        "memory_vs_plain_goal": goal,
        "memory_threaded_node_execs_per_s": rate(threaded_s),
        "memory_threaded_vs_plain": round(plain_s / threaded_s, 4),
    }
    print(f"{'mode':<22}{'node execs/s':>14}{'ms per node':>13}{'vs plain':>10}",
          file=sys.stderr)
    print(f"{'plain calls':<22}{rate(plain_s):>14}{figures['plain_ms_per_node']:>13}"
          f"{1.0:>10}", file=sys.stderr)
    print(f"{'in memory':<22}{rate(memory_s):>14}"
          f"{round(memory_s / (nodes * runs) * 1000, 3):>13}"
          f"{figures['memory_vs_plain']:>10}   (goal >= {goal}; blocks that never wait)",
          file=sys.stderr)
    print(f"{'in memory, threaded':<22}{rate(threaded_s):>14}"
          f"{round(threaded_s / (nodes * runs) * 1000, 3):>13}"
          f"{figures['memory_threaded_vs_plain']:>10}   (blocks that may wait)", file=sys.stderr)
    for name, seconds in durable_s.items():
        ms = round(seconds / (nodes * runs) * 1000, 3)
        overhead = round((seconds - plain_s) / (nodes * runs) * 1000, 3)
        figures[f"durable_{name}_node_execs_per_s"] = rate(seconds)
        figures[f"durable_{name}_ms_per_node"] = ms
        figures[f"durable_{name}_overhead_ms_per_node"] = overhead
        figures[f"durable_{name}_vs_plain"] = round(plain_s / seconds, 4)
        print(f"{'durable, ' + name:<22}{rate(seconds):>14}{ms:>13}"
              f"{figures[f'durable_{name}_vs_plain']:>10}   ({overhead} ms overhead per node)",
              file=sys.stderr)
    if args.smoke:
        figures["smoke_floor_memory_vs_plain"] = smoke_floor
    print(json.dumps(figures, sort_keys=True))
    if args.smoke and figures["memory_vs_plain"] < smoke_floor:
        print(f"in-memory/plain {figures['memory_vs_plain']} is below the smoke floor "
              f"{smoke_floor}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
