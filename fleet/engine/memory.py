"""Execute a graph definition in memory, without a database: previews, tests, benches."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fleet.clock import Clock, utcnow
from fleet.engine.blocks.registry import BlockRegistry
from fleet.engine.dataflow import Dataflow, DataflowResult
from fleet.engine.validate import check_inputs, parse_valid_cached, resolve_inputs


def run_in_memory(definition: dict[str, Any], inputs: dict[str, Any] | None = None, *,
                  registry: BlockRegistry, concurrency: int = 4, clock: Clock = utcnow,
                  timeout_s: float | None = None, run_id: str = "memory") -> DataflowResult:
    """Validate and execute ``definition`` (nothing is persisted).

    Raises InvalidInput for a bad graph or bad inputs.
    """
    given = dict(inputs or {})
    graph = parse_valid_cached(definition, registry)
    check_inputs(definition, given, registry, graph=graph)
    limit = timeout_s if timeout_s is not None else graph.timeout_s
    deadline = clock() + timedelta(seconds=limit) if limit else None
    return Dataflow(graph, resolve_inputs(graph, given), registry, run_id=run_id,
                    concurrency=concurrency, clock=clock, deadline=deadline).run()
