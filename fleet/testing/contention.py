"""Concurrent claimers in separate OS processes, for the contention test and bench.

Each process opens its own engine and claims queued runs with
``leases.claim_next`` until none is left, recording what it won.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from fleet.runs import leases
from fleet.store.db import make_engine
from fleet.store.models import Run
from fleet.store.types import new_id


@dataclass
class ClaimerResult:
    """What one claimer process won."""

    runtime_id: str
    claims: list[tuple[str, str]]  # (run_id, lease_id)
    started: float  # wall-clock start and end (time.time())
    ended: float


def seed_queued(database_url: str, count: int) -> list[str]:
    """Insert ``count`` queued runs in one statement; returns their ids."""
    now = datetime.now(UTC)
    ids = [new_id() for _ in range(count)]
    rows = [{"id": i, "user_id": "bench", "graph_id": "g", "graph_version": 1,
             "state": "queued", "inputs": {}, "created_at": now, "queued_at": now,
             "attempt_count": 0, "max_attempts": 3, "cancel_requested": False,
             "node_count": 0, "node_error_count": 0, "cost": 0.0} for i in ids]
    engine = make_engine(database_url)
    with Session(engine) as session:
        session.execute(insert(Run), rows)
        session.commit()
    engine.dispose()
    return ids


def _claim_until_empty(database_url: str, runtime_id: str, queue: mp.Queue,
                       go: Any) -> None:
    engine = make_engine(database_url, pool_size=1)
    with engine.connect():  # connect before the start line, not after
        pass
    claims: list[tuple[str, str]] = []
    queue.put("ready")
    go.wait()
    started = time.time()
    with Session(engine, expire_on_commit=False) as session:
        while True:
            lease = leases.claim_next(session, datetime.now(UTC), runtime_id, ttl_s=600)
            if lease is None:
                break
            claims.append((lease.run_id, lease.lease_id))
    engine.dispose()
    queue.put(ClaimerResult(runtime_id, claims, started, time.time()))


def wall_seconds(results: list[ClaimerResult]) -> float:
    """From the first claimer's start to the last one's end."""
    return max(r.ended for r in results) - min(r.started for r in results)


def run_claimers(database_url: str, processes: int, timeout_s: float = 300) -> list[ClaimerResult]:
    """Start ``processes`` claimers at once and collect their results."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    go = ctx.Event()
    procs = [ctx.Process(target=_claim_until_empty,
                         args=(database_url, f"claimer-{i}", queue, go))
             for i in range(processes)]
    for p in procs:
        p.start()
    try:
        for _ in procs:  # every claimer imported and connected
            assert queue.get(timeout=timeout_s) == "ready"
        go.set()
        results = [queue.get(timeout=timeout_s) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    return results
