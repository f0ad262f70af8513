"""8 OS processes claiming from 2 000 queued runs: every run claimed exactly once."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from fleet.store.models import Run
from fleet.testing.contention import run_claimers, seed_queued


@pytest.mark.slow
def test_eight_processes_claim_each_run_once(db_url: str, engine: Engine) -> None:
    ids = seed_queued(db_url, 2000)
    results = run_claimers(db_url, 8)
    claimed = Counter(run_id for r in results for run_id, _ in r.claims)
    assert sorted(claimed) == sorted(ids)
    assert max(claimed.values()) == 1, "a run was claimed twice"
    assert sum(1 for r in results if r.claims) >= 2, "claims were not actually concurrent"
    with Session(engine) as session:
        rows = session.execute(select(col(Run.state), col(Run.attempt_count))).all()
    assert {(state, attempts) for state, attempts in rows} == {("running", 1)}
