"""`fleet db upgrade` on a fresh clone: the demo database, its schedule starting from now
(no misses reported at start), `--json`, and `--empty`."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session
from typer.testing import CliRunner

from fleet.cli.context import CliContext
from fleet.cli.main import build_app
from fleet.settings import Settings
from fleet.store import graphs
from fleet.store import schedules as schedule_store
from fleet.store.db import make_engine

EXAMPLE = Path(__file__).resolve().parents[3] / "dev.sqlite.example"


def _invoke(settings: Settings, *args: str) -> dict[str, object]:
    ctx = CliContext(settings)
    try:
        result = CliRunner().invoke(build_app(), [*args, "--json"], obj=ctx)
    finally:
        ctx.close()
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_upgrade_copies_the_demo_database_and_restarts_its_schedule(tmp_path: Path) -> None:
    db = tmp_path / "dev.sqlite"
    settings = Settings(database_url=f"sqlite:///{db}", artifacts_url=str(tmp_path / "a"),
                        _env_file=None)  # type: ignore[call-arg]
    shutil.copy(EXAMPLE, tmp_path / "example.sqlite")  # opening it (WAL) would change it
    example = make_engine(f"sqlite:///{tmp_path / 'example.sqlite'}")
    with Session(example) as s:
        [built] = schedule_store.list_schedules(s)
    example.dispose()
    before = datetime.now(UTC)
    done = _invoke(settings, "db", "upgrade")
    assert done["created"] is True and str(done["copied_from"]).endswith("dev.sqlite.example")
    assert done["schedules_restarted"] == 1
    engine = make_engine(f"sqlite:///{db}")
    try:
        with Session(engine) as s:
            assert {g.id for g in graphs.list_graphs(s, user_id="demo")} >= {"hello"}
            [schedule] = schedule_store.list_schedules(s)
        assert schedule.id == built.id
        assert schedule.next_run_at is not None
        assert before < schedule.next_run_at <= before + timedelta(minutes=2)
    finally:
        engine.dispose()
    report = _invoke(settings, "sweep", "dispatch")
    assert report["missed"] == 0, report  # the example's old instants were never due here
    again = _invoke(settings, "db", "upgrade")  # an existing database is only upgraded
    assert again["created"] is False and again["schedules_restarted"] == 0


def test_upgrade_empty_makes_an_empty_database(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x' / 'fleet.sqlite'}",
                        _env_file=None)  # type: ignore[call-arg]
    done = _invoke(settings, "db", "upgrade", "--empty")
    assert done["created"] is True and done["copied_from"] is None
    assert _invoke(settings, "db", "status")["up_to_date"] is True
