"""Time to fire N due schedules, beside APScheduler 3 firing N due cron jobs on the same database.

fleet: N every-minute cron schedules, all due, one dispatcher pass: runs created,
fires recorded, messages sent through a real Redis (a throwaway server) and the
sends recorded. APScheduler 3: N jobs with a ``CronTrigger`` (every minute), all
due, in a ``SQLAlchemyJobStore`` on the same database, the scheduler resumed and
timed until every job ran. Both on PostgreSQL (a throwaway server) and on SQLite.
Prints one JSON line: per database, both times and the ratio, and fleet's time on
PostgreSQL beside its goal (10 s for 100 000); a smoke run exits 1 when fleet is
slower than APScheduler on either database.

    python bench/schedules.py            # N = 100 000
    python bench/schedules.py --smoke    # N = 2 000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Engine, func, insert, select, text
from sqlmodel import Session

from fleet.ports import JobContext
from fleet.scheduling import dispatcher
from fleet.settings import Settings
from fleet.store import graphs as graph_store
from fleet.store import migrate
from fleet.store.db import make_engine
from fleet.store.models import Run, Schedule
from fleet.store.types import new_id
from fleet.testing.servers import start_postgres, start_redis
from fleet.worker.broker import build_broker, make_batch_sender, make_sender

_done = 0
_lock = threading.Lock()
_all_done = threading.Event()
_target = 0


def _job() -> None:
    global _done
    with _lock:
        _done += 1
        if _done >= _target:
            _all_done.set()


def _settle(engine: Engine) -> None:
    """Statistics on the seeded tables, as autovacuum gathers them within a minute of a bulk
    insert: the pass is timed in that steady state, not on a table never analyzed (there
    PostgreSQL's planner, expecting a few due rows, sorts every due schedule per batch)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql"
                          else "ANALYZE"))


def fleet_fire(url: str, n: int, redis_url: str) -> dict[str, Any]:
    """Seed ``n`` due schedules and time one dispatcher pass over them (through Redis)."""
    migrate.upgrade(url)
    engine = make_engine(url)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with Session(engine, expire_on_commit=False) as s:
        graph_store.add_version(s, graph_id="bench", user_id="bench", name="bench",
                                description="", definition={"id": "bench", "nodes": [
                                    {"id": "a", "block": "constant", "inputs": {"value": 1}}]},
                                timeout_s=60.0, max_attempts=1, now=now)
        rows = [{"id": new_id(), "user_id": "bench", "graph_id": "bench", "cron": "* * * * *",
                 "timezone": "UTC", "input_data": {}, "credential_refs": {},
                 "next_run_at": now, "paused": False, "name": "",
                 "overlap_policy": "skip", "catchup_policy": "latest",
                 "catchup_window_s": 3600.0, "created_at": now, "updated_at": now}
                for _ in range(n)]
        for i in range(0, n, 5000):
            s.execute(insert(Schedule), rows[i:i + 5000])
        s.commit()
    _settle(engine)
    settings = Settings(database_url=url, redis_url=redis_url,  # type: ignore[call-arg]
                        _env_file=None)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    broker = build_broker(settings)
    ctx = JobContext(settings=settings, send_run=make_sender(broker, settings.queue_name),
                     send_many=make_batch_sender(broker, settings.queue_name))
    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as s:
        report = dispatcher.run_once(s, now + timedelta(seconds=10), ctx)
    elapsed = time.perf_counter() - started
    with Session(engine) as s:
        runs = int(s.execute(select(func.count()).select_from(Run)).scalar() or 0)
        unsent = int(s.execute(select(func.count()).select_from(Run)
                               .where(Run.last_sent_at.is_(None))).scalar() or 0)  # type: ignore
    queued = int(client.llen(f"dramatiq:{settings.queue_name}"))
    broker.close()
    client.close()
    engine.dispose()
    assert unsent == 0, f"{unsent} runs were not sent"
    assert report.fired == n and runs == n and queued == n, (report.summary(), runs, queued)
    return {"seconds": round(elapsed, 3), "per_second": round(n / elapsed, 1), "fired": n}


def apscheduler_fire(url: str, n: int) -> dict[str, Any]:
    """Time APScheduler 3 running ``n`` due jobs from a SQLAlchemyJobStore on ``url``."""
    global _done, _target
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    _done, _target = 0, n
    _all_done.clear()
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=sa_url, tablename="apscheduler_bench")},
        executors={"default": ThreadPoolExecutor(20)}, timezone=UTC)
    scheduler.start(paused=True)
    run_at = datetime.now(UTC) - timedelta(seconds=10)
    for i in range(n):
        scheduler.add_job(_job, CronTrigger(minute="*", timezone=UTC), next_run_time=run_at,
                          id=f"j{i}", misfire_grace_time=3600, coalesce=True)
    started = time.perf_counter()
    scheduler.resume()
    finished = _all_done.wait(timeout=max(600.0, n / 50))
    elapsed = time.perf_counter() - started
    scheduler.shutdown(wait=True)
    assert finished and _done == n, f"APScheduler ran {_done} of {n} jobs"
    return {"seconds": round(elapsed, 3), "per_second": round(n / elapsed, 1), "fired": n}


def _reset_pg(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _report(what: str, figures: dict[str, Any]) -> dict[str, Any]:
    """Say on stderr how one phase went, so a long run shows progress."""
    print(f"{what}: {figures}", file=sys.stderr, flush=True)
    return figures


def main() -> None:
    """Run both databases and print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run (2 000)")
    parser.add_argument("-n", type=int, default=None, help="number of due schedules")
    args = parser.parse_args()
    n = args.n or (2_000 if args.smoke else 100_000)
    result: dict[str, Any] = {"bench": "schedules", "n": n, "broker": "redis"}
    rds = start_redis()
    with tempfile.TemporaryDirectory() as tmp:
        fleet_url = f"sqlite:///{Path(tmp) / 'fleet.sqlite'}"
        aps_url = f"sqlite:///{Path(tmp) / 'aps.sqlite'}"
        fl = _report("sqlite fleet", fleet_fire(fleet_url, n, rds.url))
        ap = _report("sqlite apscheduler", apscheduler_fire(aps_url, n))
        result["sqlite"] = {"fleet": fl, "apscheduler": ap,
                            "ratio_apscheduler_over_fleet": round(ap["seconds"] / fl["seconds"], 2)}
    server = start_postgres()
    try:
        fl = _report("postgresql fleet", fleet_fire(server.url, n, rds.url))
        _reset_pg(server.url)
        ap = _report("postgresql apscheduler", apscheduler_fire(server.url, n))
        result["postgresql"] = {"fleet": fl, "apscheduler": ap,
                                "ratio_apscheduler_over_fleet":
                                    round(ap["seconds"] / fl["seconds"], 2)}
    finally:
        server.stop()
        rds.close()
    pg_s = result["postgresql"]["fleet"]["seconds"]
    result["postgresql_goal_s"] = round(10.0 * n / 100_000, 2)
    result["postgresql_within_goal"] = pg_s <= result["postgresql_goal_s"]
    print(json.dumps(result))
    slower = [db for db in ("sqlite", "postgresql")
              if result[db]["ratio_apscheduler_over_fleet"] < 1.0]
    if args.smoke and slower:
        print(f"fleet fired slower than APScheduler on {', '.join(slower)}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
