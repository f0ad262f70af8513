"""The search coverage job runs once at scheduler start-up, in the background."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from fleet.ports import JobContext
from fleet.settings import Settings
from fleet.store.models import SearchEntry
from fleet.worker.startup import STARTUP_JOBS, is_scheduler_process, start_jobs


def test_only_periodiqs_process_starts_the_startup_jobs() -> None:
    assert is_scheduler_process(["/venv/bin/periodiq", "schedules.main"])
    assert not is_scheduler_process(["/venv/bin/dramatiq", "actors.main", "schedules.main"])
    assert STARTUP_JOBS == ("search_coverage",)


def test_startup_jobs_do_not_delay_startup_and_fill_the_index(
        engine: Engine, settings: Settings) -> None:
    release = threading.Event()

    def context() -> JobContext:
        release.wait(30)  # the job is held: start_jobs must have returned already
        return JobContext(settings=settings)

    threads = start_jobs(context, engine)
    assert [t.is_alive() for t in threads] == [True]
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(SearchEntry)).scalar_one() == 0
    release.set()
    for t in threads:
        t.join(60)
    with Session(engine) as s:
        rows = s.execute(select(col(SearchEntry.kind), func.count())
                         .group_by(col(SearchEntry.kind))).all()
    kinds = {kind: int(n) for kind, n in rows}
    assert kinds["block"] > 0 and kinds["doc"] > 0
