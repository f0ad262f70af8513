"""Claim and execute a run in this process: for tests, benches and development."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from fleet.clock import Clock, utcnow
from fleet.engine.blocks.registry import BlockRegistry
from fleet.engine.core import Core, CoreResult
from fleet.engine.executor import Outcome, StopSignal, execute
from fleet.engine.validate import check_inputs, parse_valid, resolve_inputs
from fleet.runs import leases
from fleet.settings import Settings


def run_inline(open_session: Callable[[], Session], run_id: str, *, registry: BlockRegistry,
               settings: Settings, clock: Clock = utcnow, runtime_id: str = "inline",
               stop: StopSignal | None = None) -> Outcome:
    """Claim the queued run ``run_id`` and execute it here, without a broker.

    A run that is not claimable (running elsewhere, waiting, terminal,
    unknown) is left alone: the Outcome has no state and reason ``not_claimed``.
    """
    with open_session() as session:
        lease = leases.claim(session, run_id, clock(), runtime_id, ttl_s=settings.lease_ttl_s)
    if lease is None:
        return Outcome(run_id, None, reason="not_claimed")
    return execute(open_session, lease, registry=registry, settings=settings, clock=clock,
                   stop=stop)


def run_in_memory(definition: dict[str, Any], inputs: dict[str, Any] | None = None, *,
                  registry: BlockRegistry, concurrency: int = 4, clock: Clock = utcnow,
                  timeout_s: float | None = None, run_id: str = "memory") -> CoreResult:
    """Validate and execute ``definition`` without a database (nothing is persisted).

    For previews, tests and benches; raises InvalidInput for a bad graph or inputs.
    """
    given = dict(inputs or {})
    graph = parse_valid(definition, registry)
    check_inputs(definition, given, registry)
    limit = timeout_s if timeout_s is not None else graph.timeout_s
    deadline = clock() + timedelta(seconds=limit) if limit else None
    return Core(graph, resolve_inputs(graph, given), registry, run_id=run_id,
                concurrency=concurrency, clock=clock, deadline=deadline).run()
