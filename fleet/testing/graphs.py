"""Graph definitions shared by the process tests and the benchmarks."""

from __future__ import annotations

import itertools
from typing import Any


def delay_chain(graph_id: str, delays: list[float]) -> dict[str, Any]:
    """``a`` (a constant) followed by one delay node per entry of ``delays``: b, c, d, ...

    A chain whose later nodes wait lets a test or a benchmark catch a run mid-way.
    """
    names = [chr(ord("b") + i) for i in range(len(delays))]
    nodes: list[dict[str, Any]] = [{"id": "a", "block": "constant", "inputs": {"value": 1}}]
    nodes += [{"id": n, "block": "delay", "inputs": {"seconds": d}}
              for n, d in zip(names, delays, strict=True)]
    order = ["a", *names]
    links = [{"source": f"{src}.value", "sink": f"{dst}.value"}
             for src, dst in itertools.pairwise(order)]
    return {"id": graph_id, "nodes": nodes, "links": links}
