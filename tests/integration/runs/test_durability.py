"""A run interrupted after node 2 is executed again: nodes 1-2 are replayed, not redone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from fleet.engine.blocks.registry import BlockRegistry
from fleet.runs import reaper
from fleet.runs.inline import run_inline
from fleet.settings import Settings
from fleet.store import node_runs
from fleet.store import runs as run_store
from tests.integration.runs.conftest import Probe, SimulatedCrash, chain


def test_crash_after_node_two_replays_finished_nodes(
        open_session: Callable[[], Session], session: Session, submit: Any,
        registry: BlockRegistry, settings: Settings, probe: Probe, now: datetime) -> None:
    run = submit(chain(4))
    probe.crash_on["n3"] = 1  # the process dies while node 3 runs, after 1-2 were saved

    with pytest.raises(SimulatedCrash):
        run_inline(open_session, run.id, registry=registry, settings=settings,
                   clock=lambda: now)
    assert probe.calls == {"n1": 1, "n2": 1, "n3": 1}
    with open_session() as s:
        assert sorted(node_runs.finished(s, run.id)) != []
        assert sorted(n.node_id for n in node_runs.for_run(s, run.id)) == ["n1", "n2"]
        assert run_store.get(s, run.id).state == "running"  # type: ignore[union-attr]

    # The lease expires; the reaper puts the run back to queued for another worker.
    later = now + timedelta(seconds=settings.lease_ttl_s + 1)
    assert reaper.run_once(session, later).requeued == [run.id]

    out = run_inline(open_session, run.id, registry=registry, settings=settings,
                     clock=lambda: later, runtime_id="other-worker")
    assert out.state == "completed" and out.replayed == 2 and out.executed == 2
    assert probe.calls == {"n1": 1, "n2": 1, "n3": 2, "n4": 1}
    with open_session() as s:
        row = run_store.get(s, run.id)
        assert row is not None and row.attempt_count == 2 and row.outputs == {"n4.value": 1}
        runs = node_runs.for_run(s, run.id)
        assert sorted((n.node_id, n.attempt) for n in runs) == [
            ("n1", 1), ("n2", 1), ("n3", 2), ("n4", 2)]
        # Routed outputs of the replayed nodes were recorded once, not twice.
        sources = sorted(e.source_node or "" for e in run_store.events(s, run.id, kind="output"))
        assert sources == ["n1", "n2", "n3", "n4"]
