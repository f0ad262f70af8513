"""Claim and execute a run in this process, without a broker: for tests, benches and tools."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from fleet.clock import Clock, utcnow
from fleet.engine.blocks.registry import BlockRegistry
from fleet.runs import leases
from fleet.runs.execute import Outcome, StopSignal, execute
from fleet.settings import Settings


def run_inline(open_session: Callable[[], Session], run_id: str, *, registry: BlockRegistry,
               settings: Settings, clock: Clock = utcnow, runtime_id: str = "inline",
               stop: StopSignal | None = None) -> Outcome:
    """Claim the queued run ``run_id`` and execute it here.

    A run that is not claimable (running elsewhere, waiting, terminal,
    unknown) is left alone: the Outcome has no state and reason ``not_claimed``.
    """
    with open_session() as session:
        lease = leases.claim(session, run_id, clock(), runtime_id, ttl_s=settings.lease_ttl_s)
    if lease is None:
        return Outcome(run_id, None, reason="not_claimed")
    return execute(open_session, lease, registry=registry, settings=settings, clock=clock,
                   stop=stop)
