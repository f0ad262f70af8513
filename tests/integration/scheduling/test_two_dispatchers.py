"""Two dispatcher processes at once on PostgreSQL: each fire creates exactly one run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlmodel import Session, col

from fleet.store import schedules as store
from fleet.store.db import make_engine
from fleet.store.models import Run, Schedule, ScheduleFire
from fleet.store.types import new_id
from tests.conftest import _truncate_all
from tests.integration.scheduling.conftest import make_graph

ROOT = Path(__file__).resolve().parents[3]

_CHILD = """
import json, sys, time
from datetime import datetime
from sqlmodel import Session
from fleet.scheduling import dispatcher
from fleet.settings import Settings
from fleet.store import schedules as store
from fleet.store.db import make_engine
from fleet.ports import JobContext
from fleet.testing import RecordingSender

url, now, start_at = sys.argv[1], datetime.fromisoformat(sys.argv[2]), float(sys.argv[3])
settings = Settings(database_url=url, dispatch_batch_size=25, _env_file=None)
sender = RecordingSender()
engine = make_engine(url)
while time.time() < start_at:  # start both processes together
    time.sleep(0.005)
with Session(engine, expire_on_commit=False) as session:
    report = dispatcher.run_once(session, now, JobContext(settings=settings, send_run=sender))
print(json.dumps({"fired": report.fired, "sent": sender.sent, "dup": report.duplicates}))
"""


@pytest.mark.postgres
@pytest.mark.slow
def test_two_dispatcher_processes_fire_each_schedule_once(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    _truncate_all(engine)
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    with Session(engine, expire_on_commit=False) as session:
        make_graph(session, now - timedelta(days=1))
        rows = [{"id": new_id(), "user_id": "alice", "graph_id": "g1", "cron": "* * * * *",
                 "timezone": "UTC", "input_data": {}, "credential_refs": {},
                 "next_run_at": now - timedelta(seconds=30), "paused": False,
                 "overlap_policy": "skip", "catchup_policy": "latest",
                 "catchup_window_s": 3600.0, "name": "", "created_at": now,
                 "updated_at": now} for _ in range(1000)]
        session.execute(insert(Schedule), rows)
        session.commit()

    start_at = time.time() + 1.5
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, postgres_url, now.isoformat(),
                               str(start_at)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env, cwd=ROOT) for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))

    with Session(engine) as session:
        total = session.execute(select(func.count()).select_from(Run)).scalar()
        distinct = session.execute(select(func.count(func.distinct(col(Run.schedule_id))))).scalar()
        stored = session.execute(select(func.count()).select_from(ScheduleFire)
                                 .where(col(ScheduleFire.outcome) == "fired")).scalar()
        # each fire's record is its run
        fired_rows = sum(len(store.fires(session, sid, outcome="fired"))
                         for sid in session.execute(select(col(Schedule.id))).scalars())
        pending = session.execute(select(func.count()).select_from(Schedule)
                                  .where(col(Schedule.next_run_at) <= now)).scalar()
    engine.dispose()
    assert total == 1000 and distinct == 1000 and fired_rows == 1000 and pending == 0
    assert stored == 0
    assert sum(r["fired"] for r in results) == 1000
    sent = results[0]["sent"] + results[1]["sent"]
    assert len(sent) == len(set(sent)) == 1000
    # Both processes took part (SKIP LOCKED let them share the work).
    assert all(r["fired"] > 0 for r in results), [r["fired"] for r in results]
