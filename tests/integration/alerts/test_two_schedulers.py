"""Two scheduler processes running the same monitor against PostgreSQL: no double alert."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from fleet.runs import leases
from fleet.store import alerts as alert_store
from fleet.store.db import make_engine
from tests.helpers import make_run
from tests.integration.alerts.conftest import Endpoint

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SCRIPT = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timedelta
    from sqlmodel import Session
    from fleet.alerts.service import AlertService
    from fleet.settings import Settings
    from fleet.store.db import make_engine
    from fleet.sweeps import late_executions
    from fleet.ports import JobContext

    url, hook, start, go_file, ticks = sys.argv[1:6]
    settings = Settings(database_url=url, alert_urls_ops=[hook], late_lookback_s=86400.0,
                        _env_file=None)
    ctx = JobContext(settings=settings, alerts=AlertService.from_settings(settings))
    engine = make_engine(url)
    deadline = time.monotonic() + 30
    import os
    while not os.path.exists(go_file):  # both processes start together
        if time.monotonic() > deadline:
            sys.exit("never told to go")
        time.sleep(0.005)
    now = datetime.fromisoformat(start)
    for i in range(int(ticks)):
        with Session(engine, expire_on_commit=False) as session:
            late_executions.run_once(session, now + timedelta(seconds=i), ctx)
    engine.dispose()
""")


def _run_pair(postgres_url: str, hook: str, start: datetime, tmp: Path, ticks: int) -> None:
    go = tmp / f"go-{start.timestamp()}"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, postgres_url, hook,
                               start.isoformat(), str(go), str(ticks)], env=env)
             for _ in range(2)]
    time.sleep(1.5)  # both are importing and waiting on the go file
    go.touch()
    for p in procs:
        assert p.wait(timeout=60) == 0


def test_two_processes_send_one_alert(postgres_url: str, now: datetime, tmp_path: Path) -> None:
    engine = make_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE alerts, run_events, node_runs, runs CASCADE"))
    endpoint = Endpoint()
    try:
        with Session(engine, expire_on_commit=False) as session:
            run_id = make_run(session, now - timedelta(minutes=10)).id
        _run_pair(postgres_url, endpoint.url(), now, tmp_path, ticks=5)
        assert endpoint.titles() == ["[fleet] FIRING: late_executions"]

        later = now + timedelta(minutes=30)
        with Session(engine, expire_on_commit=False) as session:
            assert leases.claim(session, run_id, later, "rt-1") is not None
        _run_pair(postgres_url, endpoint.url(), later, tmp_path, ticks=3)
        assert endpoint.titles() == ["[fleet] FIRING: late_executions",
                                     "[fleet] RESOLVED: late_executions"]
        with Session(engine) as session:
            [row] = alert_store.list_alerts(session)
            assert row.send_count == 2 and not row.pending_delivery
    finally:
        endpoint.close()
        engine.dispose()
