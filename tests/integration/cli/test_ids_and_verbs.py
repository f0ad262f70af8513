"""Short ids (unique prefixes, as git), `runs retry` with an edited input, `blocks`,
`--inputs-json` from a file and from stdin, and `runs show` of a run in progress."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from fleet.store import runs as run_store
from fleet.store.models import RunEvent
from tests.helpers import make_run
from tests.integration.cli.conftest import Fleet, InlineWorker


def test_unique_prefixes_are_accepted_and_ambiguous_ones_name_the_candidates(
        fleet: Fleet, session: Session, now: datetime) -> None:
    a = make_run(session, now, id="abcd1111" + "0" * 24, user_id="local", state="completed")
    b = make_run(session, now, id="abcd2222" + "0" * 24, user_id="local", state="completed")
    make_run(session, now, id="abcd3333" + "0" * 24, user_id="bob", state="completed")
    assert fleet("runs", "show", "abcd1", "--json").json()["run"]["id"] == a.id
    assert fleet("runs", "show", b.id, "--json").json()["run"]["id"] == b.id
    ambiguous = fleet("runs", "show", "abcd", "--json")
    assert ambiguous.code == 2
    error = ambiguous.json()["error"]
    assert error["code"] == "E-INPUT-004"
    # bob's run is no candidate of local's prefix: the list names local's runs only
    assert error["problems"] == [f"run {a.id}", f"run {b.id}"]
    text = fleet("runs", "show", "abcd")
    assert text.code == 2 and a.id in text.flat and "abcd3333" not in text.flat
    short = fleet("runs", "show", "abc")
    assert short.code == 2 and "too short" in short.flat
    assert fleet("runs", "show", "abcd", "-u", "bob", "--json").json()["run"]["user_id"] == "bob"
    assert fleet("runs", "show", "abcd", "--operator", "--json").code == 2  # 3 candidates


def test_tables_show_unique_prefixes_and_wide_shows_full_ids(fleet: Fleet, session: Session,
                                                             now: datetime) -> None:
    a = make_run(session, now, id="feed0000" + "1" * 24, user_id="local")
    b = make_run(session, now, id="feed0000" + "2" * 24, user_id="local")
    listed = fleet("runs", "list")
    assert a.id[:10] in listed.stdout and b.id[:10] in listed.stdout
    assert a.id not in listed.stdout  # shortened...
    wide = fleet("runs", "list", "--wide")
    assert a.id in wide.stdout and b.id in wide.stdout  # ... unless --wide


def test_retry_with_an_edited_input_completes_and_links_both_runs(
        fleet: Fleet, run_now: Callable[[str], str | None],
        add_example: Callable[..., str], worker: InlineWorker) -> None:
    add_example("flaky.yaml", user="local")
    failed = fleet("runs", "submit", "flaky", "--input", "fail=true", "--wait", "--json")
    assert failed.code == 1
    old = failed.json()["id"]
    retried = fleet("runs", "retry", old[:8], "--input", "fail=false", "--wait", "--json")
    assert retried.code == 0, retried.output
    new = retried.json()
    assert new["state"] == "completed" and new["outputs"] == {"said": "it worked"}
    assert new["retry_of"] == old and new["id"] != old
    assert new["inputs"] == {"fail": False}
    shown = fleet("runs", "show", old, "--json").json()
    assert shown["retries"] == [new["id"]]
    assert f"retried as run(s) {new['id']}" in fleet("runs", "show", old).flat
    assert f"retry of run {old}" in fleet("runs", "show", new["id"]).flat
    running = fleet("runs", "retry", new["id"], "--inputs-json", '{"fail": "yes"}')
    assert running.code == 2 and "fail" in running.flat  # checked like any submission


def test_inputs_json_from_a_file_and_from_stdin(fleet: Fleet, tmp_path: Path,
                                                add_example: Callable[..., str],
                                                session: Session) -> None:
    add_example("hello.yaml", user="local")
    (tmp_path / "in.json").write_text('{"who": "' + "x" * 200_000 + '"}')  # > one argument
    from_file = fleet("runs", "submit", "hello", "--inputs-json", f"@{tmp_path / 'in.json'}",
                      "--json")
    assert from_file.code == 0, from_file.output
    run = run_store.get(session, from_file.json()["id"])
    assert run is not None and len(run.inputs["who"]) == 200_000
    from_stdin = fleet("runs", "submit", "hello", "--inputs-json", "-", "--json",
                       input='{"who": "Ada"}')
    assert from_stdin.code == 0 and from_stdin.json()["inputs"] == {"who": "Ada"}
    schedule = fleet("schedules", "add", "--graph", "hello", "--cron", "0 9 * * *",
                     "--inputs-json", '{"who": "Bo"}', "--json")
    assert schedule.code == 0 and schedule.json()["inputs"] == {"who": "Bo"}
    missing = fleet("runs", "submit", "hello", "--inputs-json", "@nowhere.json")
    assert missing.code == 2 and "cannot read nowhere.json" in missing.flat


def test_blocks_list_and_show(fleet: Fleet) -> None:
    listed = fleet("blocks", "list", "--json").json()
    ids = [b["id"] for b in listed]
    assert {"template", "http_request", "approval"} <= set(ids)
    template = fleet("blocks", "show", "template", "--json").json()
    assert template["inputs"]["template"] == {"type": "str", "required": True,
                                              "description": template["inputs"]["template"][
                                                  "description"]}
    assert template["inputs"]["values"]["default"] == {}
    assert template["inputs"]["value"]["default"] is None
    assert template["outputs"]["text"]["type"] == "str"
    text = fleet("blocks", "show", "http_request")
    assert text.code == 0 and "credential inputs" in text.flat and "raise_for_status" in text.flat
    unknown = fleet("blocks", "show", "nope")
    assert unknown.code == 2 and "known blocks" in unknown.flat


def test_show_includes_the_nodes_in_progress(fleet: Fleet, session: Session, now: datetime,
                                             add_example: Callable[..., str]) -> None:
    add_example("fan_out_fan_in.yaml", user="local")
    run = make_run(session, now, user_id="local", graph_id="fan-out-fan-in", state="running",
                   started_at=now, lease_id="l", runtime_id="rt", attempt_count=1)
    run_store.add_events(session, [RunEvent(run_id=run.id, at=now, kind="output",
                                            source_node="source", source_pin="value",
                                            sink_node="name", sink_pin="data", data={})])
    session.commit()
    shown = fleet("runs", "show", run.id, "--json").json()
    states = {n["node_id"]: n["state"] for n in shown["progress"]}
    # no input links: running at once; inputs arrived: running; the rest waits
    assert states == {"source": "running", "items": "running", "name": "running",
                      "upper": "pending", "join": "pending", "shout": "pending"}
    assert sorted(shown["current"]) == ["items", "name", "source"]
    text = fleet("runs", "show", run.id).flat
    assert "in progress: source, name, items" in text
