"""`fleet graphs ...`, `fleet runs show` and `fleet runs trace` through the CLI runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from fleet.cli.context import CliContext
from fleet.cli.main import build_app
from fleet.engine.blocks.registry import default_registry
from fleet.runs.inline import run_inline
from fleet.settings import Settings
from fleet.store import graphs as store
from tests.helpers import make_run

EXAMPLES = Path(__file__).parents[3] / "examples"


@pytest.fixture
def cli(settings: Settings) -> Callable[..., Any]:
    runner = CliRunner()
    app = build_app()

    def invoke(*args: str, code: int = 0) -> Any:
        result = runner.invoke(app, list(args), obj=CliContext(settings))
        assert result.exit_code == code, (result.output, result.exception)
        return result

    return invoke


def test_graphs_validate(cli: Callable[..., Any], tmp_path: Path) -> None:
    ok = cli("graphs", "validate", str(EXAMPLES / "hello.yaml"), "--json")
    assert json.loads(ok.stdout) == {"valid": True, "id": "hello", "problems": []}
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nnodes:\n  - {id: a, block: nope}\n  - {id: b, block: template}\n")
    out = cli("graphs", "validate", str(bad), code=2).output
    assert "unknown block 'nope'" in out and "node 'b' pin 'template'" in out


def test_graphs_add_list_show_delete(cli: Callable[..., Any], session: Session) -> None:
    added = json.loads(cli("graphs", "add", str(EXAMPLES / "hello.yaml"), "--user", "alice",
                           "--json").stdout)
    assert added["id"] == "hello" and added["version"] == 1 and added["created"] is True
    again = json.loads(cli("graphs", "add", str(EXAMPLES / "hello.yaml"), "--user", "alice",
                           "--json").stdout)
    assert again["version"] == 1 and again["created"] is False
    assert "version 1 unchanged" in cli("graphs", "add", str(EXAMPLES / "hello.yaml"),
                                        "--user", "alice").output
    listed = json.loads(cli("graphs", "list", "-u", "alice", "--json").stdout)
    assert [g["id"] for g in listed] == ["hello"]
    assert json.loads(cli("graphs", "list", "--json").stdout) == []  # local has none
    assert "hello" in cli("graphs", "list", "-u", "alice").output
    shown = json.loads(cli("graphs", "show", "hello", "-u", "alice", "--json").stdout)
    assert shown["definition"]["nodes"][0]["block"] == "template" and shown["versions"] == [1]
    assert "greet" in cli("graphs", "show", "hello", "-u", "alice").output
    assert "does not exist" in cli("graphs", "show", "nope", "-u", "alice", code=2).output
    # Another user's graph is answered exactly as a missing one.
    assert "does not exist for user 'bob'" in cli("graphs", "delete", "hello", "--user", "bob",
                                                  code=2).output
    deleted = json.loads(cli("graphs", "delete", "hello", "--user", "alice", "--json").stdout)
    assert deleted == {"id": "hello", "user_id": "alice", "deleted_versions": 1}
    session.rollback()
    assert store.versions(session, "alice", "hello") == []


def test_runs_show_and_trace(cli: Callable[..., Any], session: Session, settings: Settings,
                             engine: Any, now: datetime) -> None:
    from fleet.store.db import session_factory

    cli("graphs", "add", str(EXAMPLES / "fan_out_fan_in.yaml"), "--user", "alice")
    run = make_run(session, now, user_id="alice", graph_id="fan-out-fan-in", graph_version=1)
    out = run_inline(session_factory(engine), run.id, registry=default_registry(),
                     settings=settings)
    assert out.state == "completed"

    shown = json.loads(cli("runs", "show", run.id, "-u", "alice", "--json").stdout)
    assert shown["run"]["state"] == "completed"
    assert shown["run"]["outputs"]["sentence"] == "ada speaks en"
    assert len(shown["nodes"]) == shown["run"]["node_count"] == 8
    assert shown["metrics"]["blocks"]["template"]["count"] == 5
    text = " ".join(cli("runs", "show", run.id, "-u", "alice").output.split())  # rich wraps
    assert "nodes" in text and "metrics per block" in text and "critical path" in text

    traced = json.loads(cli("runs", "trace", run.id, "-u", "alice", "--json").stdout)
    kinds = [e["kind"] for e in traced["events"]]
    assert kinds[0] == "transition" and kinds[-1] == "transition" and "output" in kinds
    assert any(e["source_node"] == "source" and e["sink_node"] == "join"
               for e in traced["events"])
    text = " ".join(cli("runs", "trace", run.id, "-u", "alice").output.split())
    assert "event flow" in text and "timeline:" in text and "join" in text
    assert "does not exist" in cli("runs", "show", "nope", code=2).output
