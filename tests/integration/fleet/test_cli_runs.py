"""``fleet runs submit|cancel|list`` and ``fleet runtimes list`` through the CLI."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from fleet.cli.main import build_app
from fleet.store import runs as store
from tests.helpers import make_run
from tests.integration.fleet.test_submit_control import _graph


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("FLEET_DATABASE_URL", db_url)
    monkeypatch.delenv("FLEET_REDIS_URL", raising=False)
    return CliRunner()


def test_submit_list_cancel(cli: CliRunner, session: Session, now: datetime) -> None:
    _graph(session, now)
    app = build_app()
    out = cli.invoke(app, ["runs", "submit", "echo", "--user", "alice", "--input", "who=bob",
                           "--json"])
    assert out.exit_code == 0, out.output
    run = json.loads(out.stdout)
    assert run["state"] == "queued" and run["graph_version"] == 1
    row = store.get(session, run["id"], fresh=True)
    assert row is not None and row.inputs == {"who": "bob"}
    session.rollback()
    listed = cli.invoke(app, ["runs", "list", "--state", "queued", "--user", "alice", "--json"])
    assert [r["id"] for r in json.loads(listed.stdout)] == [run["id"]]
    mine = cli.invoke(app, ["runs", "list", "--state", "queued", "--json"])  # as local
    assert json.loads(mine.stdout) == []
    cancelled = cli.invoke(app, ["runs", "cancel", run["id"], "-u", "alice", "--json"])
    assert json.loads(cancelled.stdout)["state"] == "cancelled"
    again = cli.invoke(app, ["runs", "cancel", run["id"][:6], "-u", "alice"])
    assert again.exit_code == 2 and "already cancelled" in again.output


def test_bad_input_is_refused_and_nothing_is_stored(cli: CliRunner, session: Session,
                                                    now: datetime) -> None:
    _graph(session, now)
    app = build_app()
    out = cli.invoke(app, ["runs", "submit", "echo", "--user", "alice", "--input", "oops"])
    assert out.exit_code == 2 and "name=value" in out.output
    out = cli.invoke(app, ["runs", "submit", "echo", "--user", "alice", "--input", "who=1"])
    assert out.exit_code == 2 and "who" in out.output
    out = cli.invoke(app, ["runs", "list", "--state", "bogus"])
    assert out.exit_code == 2 and "unknown state" in out.output
    assert store.list_runs(session) == []


def test_runtimes_list(cli: CliRunner, session: Session, now: datetime) -> None:
    from fleet.store import runtimes
    from fleet.store.models import Runtime

    runtimes.add(session, Runtime(id="rt-1", hostname="h", pid=1, registered_at=now,
                                  last_seen_at=now, queues=["fleet"], concurrency=8))
    session.commit()
    make_run(session, now, state="running", runtime_id="rt-1", lease_id="l")
    out = cli.invoke(build_app(), ["runtimes", "list", "--json"])
    assert out.exit_code == 0, out.output
    [row] = json.loads(out.stdout)
    assert row["id"] == "rt-1" and row["runs_held"] == 1 and row["status"] == "online"
    bad = cli.invoke(build_app(), ["runtimes", "list", "--status", "gone"])
    assert bad.exit_code == 2
