"""`fleet credentials`, `fleet artifacts`, `fleet search` and `--credential` through the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fleet.cli.context import CliContext
from fleet.cli.main import build_app
from fleet.settings import Settings

SECRET = "sk_cli_VerySecretValue"


def flat(text: str) -> str:
    """Output with Rich's line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture
def cli(vault_settings: Settings) -> Callable[..., Any]:
    runner = CliRunner()
    app = build_app()

    def invoke(*args: str, code: int = 0, stdin: str | None = None) -> Any:
        result = runner.invoke(app, list(args), obj=CliContext(vault_settings), input=stdin)
        assert result.exit_code == code, (result.output, result.exception)
        return result

    return invoke


def test_credentials_add_list_delete_read_the_secret_from_stdin(
        cli: Callable[..., Any]) -> None:
    added = json.loads(cli("credentials", "add", "github", "--kind", "api_key", "--user",
                           "alice", "--json", stdin=SECRET + "\n").stdout)
    assert added["name"] == "github" and added["kind"] == "api_key"
    basic = cli("credentials", "add", "db", "--kind", "basic", "--username", "ann",
                "-u", "alice", stdin="pw-123456\n")
    assert "added" in basic.output
    listed = cli("credentials", "list", "--user", "alice", "--json").stdout
    assert SECRET not in listed and "pw-123456" not in listed
    assert sorted(c["name"] for c in json.loads(listed)) == ["db", "github"]
    assert json.loads(cli("credentials", "list", "-u", "bob", "--json").stdout) == []
    refused = flat(cli("credentials", "delete", added["id"], "--user", "bob", code=2).output)
    assert "does not exist for user 'bob'" in refused and "E-INPUT-002" in refused
    assert json.loads(cli("credentials", "delete", "github", "-u", "alice",
                          "--json").stdout) == {"deleted": added["id"]}
    bad = flat(cli("credentials", "add", "x", "--kind", "basic", "-u", "alice", stdin="pw\n",
              code=2).output)
    assert "basic credentials need a username" in bad


def test_rotate_key_and_generate_key(cli: Callable[..., Any]) -> None:
    cli("credentials", "add", "k", "--kind", "api_key", "-u", "alice", stdin=SECRET)
    key = cli("credentials", "generate-key").stdout.strip()
    assert len(key) == 44
    report = json.loads(cli("credentials", "rotate-key", "--json").stdout)
    assert report["rotated"] == 0 and report["failed"] == []


def test_submit_with_a_foreign_credential_is_refused_naming_node_and_input(
        cli: Callable[..., Any], tmp_path: Path) -> None:
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps({"id": "call", "nodes": [
        {"id": "call", "block": "http_request", "inputs": {"url": "http://127.0.0.1:9/"}}]}))
    cli("graphs", "add", str(graph), "-u", "alice")
    theirs = json.loads(cli("credentials", "add", "b", "--kind", "api_key", "-u", "bob",
                            "--json", stdin=SECRET).stdout)["id"]
    out = flat(cli("runs", "submit", "call", "--user", "alice", "--credential",
              f"call.credential={theirs}", code=2).output)
    assert f"node 'call' input 'credential': credential '{theirs}' does not exist" in out
    assert json.loads(cli("runs", "list", "--json").stdout) == []
    assert "node.pin=CREDENTIAL_ID" in flat(cli("runs", "submit", "call", "-c", "nonsense",
                                           code=2).output)


def test_artifacts_put_get_list_delete(cli: Callable[..., Any], tmp_path: Path) -> None:
    source = tmp_path / "report.csv"
    source.write_bytes(b"a,b\n1,2\n")
    put = json.loads(cli("artifacts", "put", str(source), "--user", "alice", "--expires",
                         "24h", "--json").stdout)
    assert put["size"] == 8 and put["ref"] == {"artifact": put["id"], "name": "report.csv",
                                                "content_type": put["content_type"],
                                                "size": 8, "sha256": put["sha256"]}
    out = tmp_path / "back.csv"
    cli("artifacts", "get", put["id"], "-u", "alice", "-o", str(out))
    assert out.read_bytes() == b"a,b\n1,2\n"
    assert cli("artifacts", "get", put["id"], "-u", "alice").stdout == "a,b\n1,2\n"
    refused = flat(cli("artifacts", "get", put["id"], "-u", "bob", code=2).output)
    assert "does not exist for user 'bob'" in refused
    assert [a["id"] for a in json.loads(cli("artifacts", "list", "-u", "alice",
                                            "--json").stdout)] == [put["id"]]
    assert "outside 3600-172800 s" in flat(cli("artifacts", "put", str(source), "-u", "alice",
                                          "--expires", "72h", code=2).output)
    cli("artifacts", "delete", put["id"], "-u", "alice")
    assert json.loads(cli("artifacts", "list", "-u", "alice", "--json").stdout) == []


def test_search_after_the_coverage_sweep(cli: Callable[..., Any]) -> None:
    assert "no matches" in cli("search", "template").output
    cli("sweep", "search_coverage", "--json")
    hits = json.loads(cli("search", "template", "--kind", "block", "--json").stdout)
    assert hits[0]["kind"] == "block" and hits[0]["id"] == "template"
    docs = json.loads(cli("search", "leases heartbeat", "--kind", "doc", "--json").stdout)
    assert docs and all(h["kind"] == "doc" for h in docs)
    assert "unknown" in flat(cli("search", "x", "--kind", "nope", code=2).output)
