"""``fleet dev`` from a fresh checkout, and the ``dev.sqlite.example`` it starts from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select
from sqlmodel import Session, SQLModel

import fleet.store.models  # noqa: F401
from fleet.store import graphs, migrate
from fleet.store.db import make_engine
from fleet.store.fulltext import include_name, include_object
from fleet.store.models import Schedule

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "dev.sqlite.example"
REBUILD = "python scripts/build_dev_sqlite.py"


def _fleet(*args: str) -> list[str]:
    return [sys.executable, "-c", "from fleet.cli.main import main; main()", *args]


def test_example_is_at_the_latest_migration(tmp_path: Path) -> None:
    assert EXAMPLE.is_file(), f"dev.sqlite.example is missing; rebuild it with `{REBUILD}`"
    copy = tmp_path / "example.sqlite"
    shutil.copy(EXAMPLE, copy)
    engine = make_engine(f"sqlite:///{copy}")
    try:
        assert migrate.current_revision(engine) == migrate.head_revision(), (
            f"dev.sqlite.example is behind the migrations; rebuild it with `{REBUILD}`")
        # Migration 0001 is regenerated in place before the first release, so the
        # revision alone cannot tell: compare the schema too.
        with engine.connect() as conn:
            # The full-text index is created per dialect outside the models (0005).
            ctx = MigrationContext.configure(conn, opts={"include_name": include_name,
                                                         "include_object": include_object})
            diff = compare_metadata(ctx, SQLModel.metadata)
        assert diff == [], f"dev.sqlite.example's schema is stale; rebuild it with `{REBUILD}`"
        with Session(engine) as s:
            assert graphs.list_graphs(s), "dev.sqlite.example holds no demo graph"
            assert _schedules(s) == 1, "dev.sqlite.example holds no demo schedule"
    finally:
        engine.dispose()


def _schedules(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(Schedule)).scalar_one())


@pytest.mark.slow
def test_fleet_dev_runs_a_run_submitted_from_another_terminal(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "dev.sqlite.example")  # a fresh clone: no dev.sqlite
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["PYTHONPATH"] = str(ROOT)
    out = open(tmp_path / "dev.out", "w")  # noqa: SIM115
    dev = subprocess.Popen(_fleet("dev", "--for", "20"), cwd=tmp_path, env=env, stdout=out,
                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while "ready" not in (tmp_path / "dev.out").read_text() and time.monotonic() < deadline:
            assert dev.poll() is None, (tmp_path / "dev.out").read_text()
            time.sleep(0.1)
        assert (tmp_path / "dev.sqlite").exists()
        submitted = subprocess.run(
            _fleet("runs", "submit", "hello", "--user", "demo", "--input", "who=Ann",
                   "--wait", "--timeout", "15", "--json"),
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
        assert submitted.returncode == 0, submitted.stderr + (tmp_path / "dev.out").read_text()
        run = json.loads(submitted.stdout)
        assert run["state"] == "completed", run
        assert run["attempt_count"] == 1
        assert dev.wait(30) == 0
    finally:
        if dev.poll() is None:
            os.killpg(dev.pid, 9)
            dev.wait(10)
        out.close()
    text = (tmp_path / "dev.out").read_text()
    assert "in-memory (StubBroker)" in text and "stopped after" in text
    # one human line per run start and end; no write retried
    assert f"run {run['id']} started: graph hello version 1, attempt 1" in text, text
    assert f"run {run['id']} (graph hello version 1, attempt 1): completed (" in text, text
    assert "retrying" not in text and "Outcome(" not in text, text
    assert "same type twice" not in text and "Traceback" not in text, text
    listed = subprocess.run(_fleet("runtimes", "list", "--json"), cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=30)
    [runtime] = json.loads(listed.stdout)
    assert runtime["status"] == "offline" and runtime["name"] == "dev"


def test_procfile_shape_is_valid_for_honcho() -> None:
    procfile = (ROOT / "Procfile").read_text()
    entries = dict(line.split(":", 1) for line in procfile.splitlines()
                   if line.strip() and not line.startswith("#"))
    assert entries["worker"].split()[:2] == ["dramatiq", "actors.main"]
    assert entries["worker"].split()[-3:] == ["--queues", "fleet-urgent", "fleet"]
    assert entries["system"].split()[:2] == ["dramatiq", "schedules.main"]
    assert entries["system"].split()[-2:] == ["--queues", "fleet-system"]
    assert "periodiq schedules.main" in entries["scheduler"]
    honcho = shutil.which("honcho", path=str(Path(sys.executable).parent))
    assert honcho is not None, "honcho is a test dependency (pip install -e '.[test]')"
    checked = subprocess.run([honcho, "check"], cwd=ROOT, capture_output=True, text=True,
                             timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
