"""No traceback reaches a user: each failure the issue lists answers a clear message and
exit code 2 (1 for an unexpected error, with -v for details), as text or as JSON, and no
command but `fleet db upgrade` creates a database file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

FLEET = str(Path(sys.executable).parent / "fleet")


def fleet(cwd: Path, *args: str, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    """The real `fleet` console script in ``cwd``, with no FLEET_* variable but ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    base.update({"COLUMNS": "200", **(env or {})})
    return subprocess.run([FLEET, *args], cwd=cwd, env=base, capture_output=True, text=True,
                          timeout=60, check=False)


def _flat(p: subprocess.CompletedProcess[str]) -> str:
    return " ".join((p.stdout + p.stderr).split())


def _clean(p: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The output of a command that failed cleanly with ``code``."""
    assert p.returncode == code, p.stdout + p.stderr
    assert "Traceback" not in p.stdout + p.stderr, p.stderr
    return _flat(p)


def _json_error(p: subprocess.CompletedProcess[str], code: str, status: int = 2) -> str:
    assert p.returncode == status, p.stdout + p.stderr
    error = json.loads(p.stdout)["error"]
    assert error["code"] == code and isinstance(error["problems"], list)
    return str(error["message"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("args", [["runs", "list"], ["runs", "show", "abcd1234"],
                                  ["sweep", "--list"], ["credentials", "list"]])
def test_a_missing_database_is_named_and_never_created(tmp_path: Path, args: list[str]) -> None:
    text = _clean(fleet(tmp_path, *args))
    assert f"there is no database at {tmp_path / 'dev.sqlite'}" in text
    assert "fleet db upgrade" in text
    message = _json_error(fleet(tmp_path, *args, "--json"), "E-STORE-002")
    assert "fleet db upgrade" in message
    assert list(tmp_path.iterdir()) == []  # no dev.sqlite, no -wal, no -shm


def test_db_status_creates_nothing_and_db_upgrade_creates_the_database(tmp_path: Path) -> None:
    status = fleet(tmp_path, "db", "status", "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["exists"] is False
    assert list(tmp_path.iterdir()) == []
    up = fleet(tmp_path, "db", "upgrade", "--empty", "--json")
    assert up.returncode == 0, up.stderr
    done = json.loads(up.stdout)
    assert done["created"] is True and done["copied_from"] is None and done["revision"]
    assert (tmp_path / "dev.sqlite").is_file()
    assert fleet(tmp_path, "runs", "list", "--json").stdout.strip() == "[]"


def test_an_uninitialised_database_says_run_fleet_db_upgrade(tmp_path: Path) -> None:
    (tmp_path / "dev.sqlite").write_bytes(b"")  # e.g. left by an older fleet
    text = _clean(fleet(tmp_path, "runs", "list"))
    assert "is not initialised" in text and "run `fleet db upgrade`" in text
    assert "no such table" in text  # the driver's own words, for the curious


def test_an_unsupported_database_url_names_the_supported_ones(tmp_path: Path) -> None:
    env = {"FLEET_DATABASE_URL": "mysql://fleet@db.example/fleet"}
    text = _clean(fleet(tmp_path, "runs", "list", env=env))
    assert "'mysql://'" in text and "SQLite or PostgreSQL" in text and "postgresql://" in text
    message = _json_error(fleet(tmp_path, "db", "upgrade", "--json", env=env), "E-CONFIG-001")
    assert "mysql" in message
    garbage = _clean(fleet(tmp_path, "runs", "list", env={"FLEET_DATABASE_URL": "nonsense"}))
    assert "FLEET_DATABASE_URL is not a database URL" in garbage
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_postgresql_names_host_port_and_what_to_check(tmp_path: Path) -> None:
    port = _free_port()
    env = {"FLEET_DATABASE_URL": f"postgresql://fleet:secret@127.0.0.1:{port}/fleetdb"}
    text = _clean(fleet(tmp_path, "runs", "list", env=env))
    assert f"PostgreSQL database 'fleetdb' on 127.0.0.1:{port}" in text
    assert "check that the server is running" in text
    assert "secret" not in text  # the password is never repeated
    message = _json_error(fleet(tmp_path, "db", "upgrade", "--json", env=env), "E-STORE-001")
    assert f"127.0.0.1:{port}" in message


@pytest.mark.postgres
def test_a_missing_postgresql_database_says_how_to_create_it(tmp_path: Path,
                                                            postgres_url: str) -> None:
    url = make_url(postgres_url).set(database="no_such_fleet_db")
    env = {"FLEET_DATABASE_URL": url.render_as_string(hide_password=False)}
    text = _clean(fleet(tmp_path, "graphs", "list", env=env))
    assert "PostgreSQL database 'no_such_fleet_db'" in text and "does not exist" in text
    assert "createdb" in text and "fleet db upgrade" in text


def test_a_setting_that_fails_to_parse_names_the_variable_and_an_example(tmp_path: Path) -> None:
    text = _clean(fleet(tmp_path, "runs", "list", env={"FLEET_LEASE_TTL_S": "soon"}))
    assert "FLEET_LEASE_TTL_S = 'soon'" in text and "valid number" in text
    assert "e.g. 60.0" in text
    message = _json_error(fleet(tmp_path, "runs", "list", "--json",
                                env={"FLEET_ALERT_URLS_OPS": "[discord://42/s3cr3t"}),
                          "E-CONFIG-001")
    assert "FLEET_ALERT_URLS_OPS" in message and "separated by commas" in message
    assert "s3cr3t" not in message  # URLs may hold secrets: not repeated
    level = _clean(fleet(tmp_path, "runs", "list", env={"FLEET_LOG_LEVEL": "chatty"}))
    assert "FLEET_LOG_LEVEL = 'CHATTY' is not a log level" in level
    inconsistent = _clean(fleet(tmp_path, "runs", "list", env={"FLEET_LEASE_TTL_S": "5"}))
    assert "heartbeat_interval_s" in inconsistent and "lease_ttl_s" in inconsistent


@pytest.mark.parametrize("value", ["discord://id/token", "discord://a/b, mailto://ops@x.org",
                                   '["discord://a/b"]'])
def test_alert_urls_take_a_plain_value_a_list_or_json(tmp_path: Path, value: str) -> None:
    status = fleet(tmp_path, "db", "status", "--json", env={"FLEET_ALERT_URLS_OPS": value})
    assert status.returncode == 0, status.stderr


def test_an_unexpected_error_is_one_line_and_v_gives_the_traceback(tmp_path: Path) -> None:
    # A bug stands in for any unexpected error: sitecustomize makes reading a graph file fail.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import fleet.graphs.files as files\n"
        "def _bug(path):\n"
        "    raise ZeroDivisionError('a bug planted by the test')\n"
        "files.load_graph_file = _bug\n")
    (tmp_path / "graph.yaml").write_text("id: g\n")
    env = {"PYTHONPATH": str(site)}
    out = fleet(tmp_path, "graphs", "validate", "graph.yaml", env=env)
    text = _clean(out, code=1)
    assert "unexpected ZeroDivisionError" in text and "-v" in text
    assert len(out.stderr.strip().splitlines()) <= 3  # one message (wrapped), no traceback
    verbose = fleet(tmp_path, "-v", "graphs", "validate", "graph.yaml", env=env)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr
    message = _json_error(fleet(tmp_path, "graphs", "validate", "graph.yaml", "--json", env=env),
                          "E-FLEET-000", status=1)
    assert "ZeroDivisionError" in message


def test_a_graph_file_that_is_not_utf8_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "graph.yaml").write_bytes(b"\xff\xfe\x00not utf-8")
    text = _clean(fleet(tmp_path, "graphs", "validate", "graph.yaml"))
    assert "graph file graph.yaml is not UTF-8 text" in text and "save the file as UTF-8" in text


def test_text_from_users_and_errors_is_printed_as_is(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("id: [broken\nnodes: []\n")
    text = _clean(fleet(tmp_path, "graphs", "validate", "broken.yaml"))
    assert "id: [broken" in text and "expected ',' or ']', but got ':'" in text
    up = fleet(tmp_path, "db", "upgrade", "--empty")
    assert up.returncode == 0, up.stderr
    for ref in ("[/]", "[bold]x[/bold]", "[broken"):
        text = _clean(fleet(tmp_path, "runs", "show", ref))
        assert f"run {ref} does not exist" in text


def test_usage_errors_are_json_with_json(tmp_path: Path) -> None:
    message = _json_error(fleet(tmp_path, "runs", "list", "--bogus", "--json"), "E-USAGE-001")
    assert "--bogus" in message


def test_version_and_help(tmp_path: Path) -> None:
    version = fleet(tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.startswith("fleet ")
    helped = fleet(tmp_path, "--help")
    assert helped.returncode == 0
    for noun in ("db", "graphs", "blocks", "runs", "schedules", "credentials", "dev"):
        assert f" {noun} " in helped.stdout
    assert list(tmp_path.iterdir()) == []
