"""The ownership matrix: every command that takes an object id, as its owner, as another
user (the same "does not exist" as a missing id: no existence leak, prefixes included) and
with --operator (the only way across users; logged with the acting identity)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from fleet.settings import Settings
from fleet.vault.keys import generate_key
from tests.integration.cli.conftest import Fleet

TOOL_GRAPH = """\
id: ask-tool
nodes:
  - {id: ask, block: tool, inputs: {tool: lookup}}
"""


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """The test's database, with a secret key (credentials) and artifacts in tmp_path."""
    return Settings(database_url=db_url, artifacts_url=str(tmp_path / "artifacts"),  # type: ignore[call-arg]
                    secret_key=SecretStr(generate_key()), _env_file=None)


@dataclass
class World:
    """What a case can use to make alice's object."""

    fleet: Fleet
    add_example: Callable[..., str]
    run_now: Callable[[str], str | None]
    tmp_path: Path

    def run(self, graph: str, *args: str, execute: bool = True) -> str:
        out = self.fleet("runs", "submit", graph, "-u", "alice", "-q", *args)
        assert out.code == 0, out.output
        run_id = out.stdout.strip()
        if execute:
            self.run_now(run_id)
        return run_id

    def schedule(self) -> str:
        self.add_example("hello.yaml")
        out = self.fleet("schedules", "add", "--graph", "hello", "--cron", "0 9 * * *",
                         "-u", "alice", "--json")
        assert out.code == 0, out.output
        return str(out.json()["id"])


def _completed(w: World) -> str:
    w.add_example("hello.yaml")
    return w.run("hello")


def _waiting_approval(w: World) -> str:
    w.add_example("approval.yaml")
    return w.run("approval-demo")


def _waiting_tool(w: World) -> str:
    (w.tmp_path / "tool.yaml").write_text(TOOL_GRAPH)
    assert w.fleet("graphs", "add", str(w.tmp_path / "tool.yaml"), "-u", "alice").code == 0
    return w.run("ask-tool")


def _queued(w: World) -> str:
    w.add_example("hello.yaml")
    return w.run("hello", execute=False)


def _credential(w: World) -> str:
    out = w.fleet("credentials", "add", "api", "--kind", "api_key", "-u", "alice", "--json",
                  input="sk-secret")
    assert out.code == 0, out.output
    return str(out.json()["id"])


def _artifact(w: World) -> str:
    (w.tmp_path / "report.csv").write_text("a,b\n1,2\n")
    out = w.fleet("artifacts", "put", str(w.tmp_path / "report.csv"), "-u", "alice", "--json")
    assert out.code == 0, out.output
    return str(out.json()["id"])


def _graph(w: World) -> str:
    return w.add_example("hello.yaml")


@dataclass
class Case:
    """One command that takes an object id."""

    args: list[str]  # "{id}" stands for the object's id
    make: Callable[[World], str]
    missing: str  # an id of that kind that exists for nobody
    operator: bool = True  # whether --operator applies


MISSING = "f" * 32
CASES: dict[str, Case] = {
    "runs show": Case(["runs", "show", "{id}"], _completed, MISSING),
    "runs trace": Case(["runs", "trace", "{id}"], _completed, MISSING),
    "runs why": Case(["runs", "why", "{id}"], _queued, MISSING),
    "runs watch": Case(["runs", "watch", "{id}", "--timeout", "5"], _completed, MISSING),
    "runs cancel": Case(["runs", "cancel", "{id}"], _queued, MISSING),
    "runs approve": Case(["runs", "approve", "{id}"], _waiting_approval, MISSING),
    "runs reject": Case(["runs", "reject", "{id}"], _waiting_approval, MISSING),
    "runs complete-tool": Case(["runs", "complete-tool", "{id}", "--node", "ask", "--output",
                                '{"answer": 42}'], _waiting_tool, MISSING),
    "runs retry": Case(["runs", "retry", "{id}"], _completed, MISSING),
    "graphs show": Case(["graphs", "show", "{id}"], _graph, "no-such-graph"),
    "graphs archive": Case(["graphs", "archive", "{id}"], _graph, "no-such-graph"),
    "graphs delete": Case(["graphs", "delete", "{id}"], _graph, "no-such-graph"),
    "schedules show": Case(["schedules", "show", "{id}"], World.schedule, MISSING),
    "schedules pause": Case(["schedules", "pause", "{id}"], World.schedule, MISSING),
    "schedules resume": Case(["schedules", "resume", "{id}"], World.schedule, MISSING),
    "schedules run-now": Case(["schedules", "run-now", "{id}"], World.schedule, MISSING),
    "schedules delete": Case(["schedules", "delete", "{id}"], World.schedule, MISSING),
    "credentials delete": Case(["credentials", "delete", "{id}"], _credential, MISSING,
                               operator=False),
    "artifacts get": Case(["artifacts", "get", "{id}", "--json"], _artifact, MISSING,
                          operator=False),
    "artifacts delete": Case(["artifacts", "delete", "{id}"], _artifact, MISSING,
                             operator=False),
}


def _args(case: Case, object_id: str, *extra: str) -> list[str]:
    return [a.replace("{id}", object_id) for a in case.args] + list(extra)


def _error(out: Any) -> dict[str, Any]:
    assert out.code == 2, out.output
    return dict(out.json()["error"])


def _masked(message: str, *ids: str) -> str:
    for i in ids:
        message = message.replace(i, "<ID>")
    return re.sub(r"\s+", " ", message)


@pytest.fixture
def world(fleet: Fleet, add_example: Callable[..., str], run_now: Callable[[str], str | None],
          tmp_path: Path) -> World:
    return World(fleet, add_example, run_now, tmp_path)


@pytest.mark.parametrize("name", list(CASES))
def test_the_owner_may(world: World, name: str) -> None:
    case = CASES[name]
    object_id = case.make(world)
    out = world.fleet(*_args(case, object_id, "-u", "alice"))
    assert out.code == 0, out.output


@pytest.mark.parametrize("name", list(CASES))
def test_another_user_gets_does_not_exist_like_a_missing_id(world: World, name: str) -> None:
    case = CASES[name]
    object_id = case.make(world)
    theirs = _error(world.fleet(*_args(case, object_id, "-u", "bob", "--json")))
    missing = _error(world.fleet(*_args(case, case.missing, "-u", "bob", "--json")))
    assert theirs["code"] == missing["code"] == "E-INPUT-002"
    assert "does not exist" in theirs["message"]
    assert _masked(theirs["message"], object_id) == _masked(missing["message"], case.missing)
    if len(object_id) == 32:  # a prefix of another user's id answers the same
        prefix = _error(world.fleet(*_args(case, object_id[:8], "-u", "bob", "--json")))
        assert _masked(prefix["message"], object_id[:8]) == _masked(missing["message"],
                                                                     case.missing)
    # ... and nothing was done: the owner still has it as it was.
    assert world.fleet(*_args(case, object_id, "-u", "alice")).code == 0


@pytest.mark.parametrize("name", list(CASES))
def test_the_operator_flag_acts_across_users_and_is_logged(
        world: World, name: str, caplog: pytest.LogCaptureFixture) -> None:
    case = CASES[name]
    object_id = case.make(world)
    out = world.fleet(*_args(case, object_id, "-u", "bob", "--operator"))
    if not case.operator:  # secrets and files: their owner only, no operator form
        assert out.code == 2 and "--operator" in out.output
        return
    assert out.code == 0, out.output
    assert any(r.name == "fleet.cli.audit" and "operator action by bob" in r.getMessage()
               for r in caplog.records)


def test_lists_show_only_your_own_unless_operator(world: World) -> None:
    run_id = _completed(world)
    schedule_id = world.schedule()
    for noun, key in (("runs", run_id), ("schedules", schedule_id), ("graphs", "hello")):
        mine = world.fleet(noun, "list", "-u", "alice", "--json").json()
        theirs = world.fleet(noun, "list", "-u", "bob", "--json").json()
        everyone = world.fleet(noun, "list", "-u", "bob", "--operator", "--json").json()
        ids = [str(r.get("id") or r.get("schedule", {}).get("id")) for r in mine]
        assert key in ids and theirs == []
        assert len(everyone) == len(mine)
