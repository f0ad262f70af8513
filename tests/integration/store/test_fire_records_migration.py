"""Migration 0009: a cron instant's fire record becomes its run; a downgrade writes it back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import Engine, select
from sqlmodel import Session

from fleet.store import migrate
from fleet.store import schedules as store
from fleet.store.models import ScheduleFire
from tests.helpers import make_run


def _stored(engine: Engine) -> list[tuple[str, str | None, str]]:
    with Session(engine) as s:
        rows = s.execute(select(ScheduleFire.outcome, ScheduleFire.run_id,  # type: ignore[call-overload]
                                ScheduleFire.schedule_id)).all()
    return sorted((r[0], r[1], r[2]) for r in rows)


def test_fired_rows_of_scheduled_runs_go_and_come_back(db_url: str, engine: Engine) -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    config = migrate.alembic_config(db_url)
    command.downgrade(config, "0008")
    try:
        with Session(engine, expire_on_commit=False) as s:
            cron = make_run(s, now, id="r-cron", schedule_id="s1", scheduled_for=now)
            manual = make_run(s, now + timedelta(minutes=1), id="r-now", schedule_id="s1")
            s.add_all([  # what the dispatcher and "run now" wrote before
                ScheduleFire(schedule_id="s1", scheduled_for=now, outcome="fired",
                             run_id=cron.id, at=now),
                ScheduleFire(schedule_id="s1", scheduled_for=now + timedelta(minutes=1),
                             outcome="fired", run_id=manual.id, detail="run now by alice",
                             at=now + timedelta(minutes=1)),
                ScheduleFire(schedule_id="s1", scheduled_for=now - timedelta(hours=2),
                             outcome="missed", at=now)])
            s.commit()
        command.upgrade(config, "0009")
        assert _stored(engine) == [("fired", "r-now", "s1"), ("missed", None, "s1")]
        with Session(engine) as s:
            history = [(f.outcome, f.run_id, f.at) for f in store.fires(s, "s1")]
        assert history == [("fired", "r-now", now + timedelta(minutes=1)),
                           ("fired", "r-cron", now), ("missed", None, now)]
        command.downgrade(config, "0008")
        assert _stored(engine) == [("fired", "r-cron", "s1"), ("fired", "r-now", "s1"),
                                   ("missed", None, "s1")]
    finally:
        migrate.upgrade(db_url)
