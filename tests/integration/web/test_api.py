"""Every API route, on SQLite and PostgreSQL: what it answers and what it changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fleet.engine.blocks.registry import default_registry
from fleet.graphs.service import add_graph
from fleet.ports import JobContext
from fleet.runs.inline import run_inline
from fleet.store.migrate import head_revision
from fleet.store.models import Runtime
from fleet.sweeps import search_coverage
from tests.integration.web.support import HELLO, Web

TOOL_GRAPH = {"id": "asks-tool", "nodes": [
    {"id": "ask", "block": "tool", "inputs": {"tool": "search", "args": {"q": "x"}}},
    {"id": "say", "block": "template", "inputs": {"template": "got {value}"}}],
    "links": [{"source": "ask.result", "sink": "say.value"}]}

# Every route of the API; test_every_route_is_listed keeps this in step with the app, and
# each one is called by a test below.
ROUTES = {
    ("GET", "/api/v1/me"), ("GET", "/api/v1/overview"),
    ("GET", "/api/v1/graphs"), ("POST", "/api/v1/graphs"), ("POST", "/api/v1/graphs/validate"),
    ("GET", "/api/v1/graphs/{graph_id}"), ("POST", "/api/v1/graphs/{graph_id}/archive"),
    ("DELETE", "/api/v1/graphs/{graph_id}"),
    ("GET", "/api/v1/runs"), ("POST", "/api/v1/runs"), ("GET", "/api/v1/runs/{run_id}"),
    ("GET", "/api/v1/runs/{run_id}/why"), ("POST", "/api/v1/runs/{run_id}/cancel"),
    ("POST", "/api/v1/runs/{run_id}/approve"), ("POST", "/api/v1/runs/{run_id}/reject"),
    ("POST", "/api/v1/runs/{run_id}/complete-tool"), ("POST", "/api/v1/runs/{run_id}/retry"),
    ("POST", "/api/v1/batches"), ("GET", "/api/v1/batches"),
    ("GET", "/api/v1/batches/{batch_id}"),
    ("GET", "/api/v1/schedules"), ("GET", "/api/v1/schedules/preview"),
    ("POST", "/api/v1/schedules"), ("GET", "/api/v1/schedules/{schedule_id}"),
    ("DELETE", "/api/v1/schedules/{schedule_id}"),
    ("POST", "/api/v1/schedules/{schedule_id}/pause"),
    ("POST", "/api/v1/schedules/{schedule_id}/resume"),
    ("POST", "/api/v1/schedules/{schedule_id}/run-now"),
    ("GET", "/api/v1/runtimes"), ("GET", "/api/v1/sweeps"), ("POST", "/api/v1/sweeps/{name}/run"),
    ("GET", "/api/v1/alerts"), ("POST", "/api/v1/alerts/test"), ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/search"),
}


def test_every_route_is_listed(web: Web) -> None:
    paths = web.client.get("/api/v1/openapi.json").json()["paths"]
    found = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert found == ROUTES


def test_every_api_route_wants_a_token(web: Web) -> None:
    for method, path in sorted(ROUTES):
        url = path.replace("{", "").replace("}", "")
        r = web.client.request(method, url)
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["error"]["code"] == "E-AUTH-001"
        bad = web.client.request(method, url, headers={"Authorization": "Bearer fleet_x_y"})
        assert bad.status_code == 401, (method, path)


def test_health_endpoints_are_open(web: Web) -> None:
    assert web.client.get("/healthz").json() == {"status": "ok"}
    ready = web.client.get("/readyz")
    head = head_revision()
    assert head and ready.status_code == 200 and head in ready.json()["database"]
    assert "fleet_runs_total" in web.client.get("/metrics").text


def test_me_and_overview(web: Web, seeded: dict[str, dict[str, str]]) -> None:
    me = web.get("operator", "/api/v1/me").json()
    assert (me["user_id"], me["role"], me["read_only"]) == ("alice", "operator", False)
    o = web.get("viewer", "/api/v1/overview").json()
    assert o["queue_depth"] == 3  # everyone's queued runs: fleet-wide figures
    assert o["active"]["waiting_approval"] == 6
    assert o["finished_last_hour"] == 3 and o["failure_rate"] == 0.0


def test_graphs(web: Web) -> None:
    added = web.post("operator", "/api/v1/graphs", json=HELLO)
    assert added.status_code == 201, added.text
    assert (added.json()["id"], added.json()["version"], added.json()["created"]) == \
        ("hello", 1, True)
    again = web.post("operator", "/api/v1/graphs", json=HELLO)
    assert again.status_code == 200 and again.json()["created"] is False
    changed = web.post("operator", "/api/v1/graphs", json={**HELLO, "description": "v2"})
    assert changed.json()["version"] == 2 and changed.json()["versions"] == [1, 2]
    # Graph ids are per owner: bob (through an admin) gets his own `hello`.
    bobs = web.post("admin", "/api/v1/graphs?owner=bob", json=HELLO)
    assert bobs.status_code == 201 and bobs.json()["user_id"] == "bob"
    listed = web.get("operator", "/api/v1/graphs").json()
    assert [(g["user_id"], g["id"], g["version"]) for g in listed["items"]] == \
        [("alice", "hello", 2)]
    everyone = web.get("admin", "/api/v1/graphs").json()["items"]
    assert sorted((g["user_id"], g["id"]) for g in everyone) == [("alice", "hello"),
                                                                   ("bob", "hello")]
    shown = web.get("viewer", "/api/v1/graphs/hello?version=1").json()
    assert shown["version"] == 1 and shown["definition"]["id"] == "hello"
    bad = web.post("viewer", "/api/v1/graphs/validate",
                   json={"id": "x", "nodes": [{"id": "a", "block": "nope"}]}).json()
    assert bad["valid"] is False and any("nope" in p for p in bad["problems"])
    assert web.post("viewer", "/api/v1/graphs/validate", json=HELLO).json() == \
        {"valid": True, "problems": []}
    archived = web.post("operator", "/api/v1/graphs/hello/archive")
    assert archived.json() == {"graph_id": "hello", "versions": 2}
    run = web.post("operator", "/api/v1/runs", json={"graph_id": "hello"})
    assert run.status_code == 422 and "archived" in run.json()["error"]["message"]
    assert web.delete("operator", "/api/v1/graphs/hello").json()["versions"] == 2
    assert web.get("operator", "/api/v1/graphs/hello").status_code == 404
    assert web.get("admin", "/api/v1/graphs/hello?owner=bob").status_code == 200


def test_run_list_filters_pages_and_counts(web: Web) -> None:
    web.post("operator", "/api/v1/graphs", json=HELLO)
    ids = []
    for i in range(7):
        web.clock.advance(1)
        ids.append(web.post("operator", "/api/v1/runs",
                            json={"graph_id": "hello", "inputs": {"who": f"n{i}"}}).json()["id"])
    page1 = web.get("viewer", "/api/v1/runs?limit=3").json()
    assert [r["id"] for r in page1["items"]] == ids[::-1][:3]
    assert page1["count"] == {"value": 7, "capped": False, "text": "7"}
    page2 = web.get("viewer", f"/api/v1/runs?limit=3&cursor={page1['next_cursor']}").json()
    page3 = web.get("viewer", f"/api/v1/runs?limit=3&cursor={page2['next_cursor']}").json()
    assert [r["id"] for r in page2["items"] + page3["items"]] == ids[::-1][3:]
    assert page3["next_cursor"] is None
    web.post("operator", f"/api/v1/runs/{ids[0]}/cancel")
    only = web.get("viewer", "/api/v1/runs?state=cancelled").json()
    assert [r["id"] for r in only["items"]] == [ids[0]]
    both = web.get("viewer", "/api/v1/runs?state=cancelled,queued&graph=hello").json()
    assert both["count"]["value"] == 7
    since = (web.clock() - timedelta(seconds=2)).isoformat().replace("+00:00", "Z")
    recent = web.get("viewer", "/api/v1/runs", params={"since": since}).json()
    assert [r["id"] for r in recent["items"]] == ids[::-1][:3]
    assert web.get("viewer", "/api/v1/runs?since=1h").json()["count"]["value"] == 7
    assert web.get("viewer", "/api/v1/runs?error=E-RUN-002").json()["items"] == []
    assert web.get("viewer", "/api/v1/runs?schedule=nope").json()["items"] == []
    assert web.get("viewer", "/api/v1/runs?count=false").json()["count"] is None
    # Bad filters name the field.
    bad = web.get("viewer", "/api/v1/runs?state=sleeping&since=yesterday").json()["error"]
    assert bad["code"] == "E-INPUT-001"
    assert any(p.startswith("state:") for p in bad["problems"])
    assert any(p.startswith("since:") for p in bad["problems"])
    assert web.get("viewer", "/api/v1/runs?limit=501").status_code == 422
    cursor = web.get("viewer", "/api/v1/runs?cursor=garbage").json()["error"]
    assert cursor["problems"][0].startswith("cursor:")


def test_run_detail_and_why(web: Web, seeded: dict[str, dict[str, str]]) -> None:
    done = seeded["alice"]["done"]
    d = web.get("viewer", f"/api/v1/runs/{done}").json()
    assert d["run"]["state"] == "completed"
    assert [(n["node_id"], n["state"]) for n in d["nodes"]] == [("greet", "completed")]
    assert d["tracker"]["executions"][0]["node_id"] == "greet"
    # stored without its derived metrics, shown with them
    assert d["tracker"]["metrics"]["run"]["critical_path"] == ["greet"]
    assert d["metrics"]["critical_path"] == ["greet"] and d["metrics"]["nodes"]["count"] == 1
    assert [(a["number"], a["outcome"]) for a in d["attempts"]] == [(1, "completed")]
    assert [e["to_state"] for e in d["events"] if e["kind"] == "transition"] == \
        ["queued", "running", "completed"]
    assert d["run"]["outputs"] == {"greeting": "Hello, world!"}
    why = web.get("viewer", f"/api/v1/runs/{seeded['alice']['queued']}/why").json()
    codes = [c["code"] for c in why["causes"]]
    assert "no_worker" in codes and "scheduler_silent" in codes
    assert why["facts"]["queued_ahead"] == 0  # alice's is the first queued
    waiting = web.get("viewer", f"/api/v1/runs/{seeded['alice']['waiting']}/why").json()
    assert waiting["causes"][0]["code"] == "waiting_approval"
    finished = web.get("viewer", f"/api/v1/runs/{done}/why").json()
    assert finished["state"] == "completed" and "finished" in finished["headline"]


def test_secrets_in_inputs_are_redacted(web: Web) -> None:
    web.post("operator", "/api/v1/graphs", json=HELLO)
    run = web.post("operator", "/api/v1/runs", json={
        "graph_id": "hello", "inputs": {"who": "https://user:pw@example.com/x?token=abc"}})
    assert run.status_code == 201, run.text
    shown = web.get("operator", f"/api/v1/runs/{run.json()['id']}").json()
    assert "pw@" not in str(shown) and "abc" not in str(shown["run"]["inputs"])


def test_submit_and_act_on_runs(web: Web, seeded: dict[str, dict[str, str]]) -> None:
    alice = seeded["alice"]
    sent_before = len(web.sender.sent)
    r = web.post("operator", "/api/v1/runs", json={"graph_id": "hello",
                                                   "inputs": {"who": "Bo"}})
    assert r.status_code == 201 and r.json()["state"] == "queued"
    assert web.sender.sent[sent_before:] == [r.json()["id"]]
    bad = web.post("operator", "/api/v1/runs", json={"graph_id": "hello", "inputs": {"who": 3}})
    assert bad.status_code == 422 and bad.json()["error"]["problems"]
    missing = web.post("operator", "/api/v1/runs", json={"graph_id": "nope"})
    assert missing.status_code == 404
    unknown_field = web.post("operator", "/api/v1/runs", json={"graph": "hello"})
    assert unknown_field.status_code == 422
    assert any("graph_id" in p for p in unknown_field.json()["error"]["problems"])
    cancelled = web.post("operator", f"/api/v1/runs/{alice['queued']}/cancel").json()
    assert cancelled["state"] == "cancelled"
    again = web.post("operator", f"/api/v1/runs/{alice['queued']}/cancel")
    assert again.status_code == 422 and "already cancelled" in again.json()["error"]["message"]
    approved = web.post("operator", f"/api/v1/runs/{alice['waiting']}/approve").json()
    assert approved["state"] == "queued"
    not_waiting = web.post("operator", f"/api/v1/runs/{alice['done']}/approve")
    assert not_waiting.status_code == 409 and not_waiting.json()["error"]["code"] == "E-RUN-007"
    rejected = web.post("admin", f"/api/v1/runs/{seeded['bob']['waiting']}/reject",
                        json={"reason": "not now"}).json()
    assert rejected["state"] == "cancelled" and "not now" in rejected["error_detail"]
    retry = web.post("operator", f"/api/v1/runs/{alice['done']}/retry",
                     json={"inputs": {"who": "Cy"}})
    assert retry.status_code == 201
    assert (retry.json()["retry_of"], retry.json()["inputs"]) == (alice["done"], {"who": "Cy"})
    assert web.get("viewer", f"/api/v1/runs/{alice['done']}").json()["retries"] == \
        [retry.json()["id"]]


def test_complete_tool(web: Web) -> None:
    web.post("operator", "/api/v1/graphs", json=TOOL_GRAPH)
    run_id = web.post("operator", "/api/v1/runs", json={"graph_id": "asks-tool"}).json()["id"]
    run_inline(web.session, run_id, registry=default_registry(), settings=web.settings,
               clock=web.clock)
    assert web.get("viewer", f"/api/v1/runs/{run_id}").json()["run"]["state"] == "waiting_tool"
    wrong = web.post("operator", f"/api/v1/runs/{run_id}/complete-tool",
                     json={"node_id": "say", "output": 1})
    assert wrong.status_code == 404 and "ask" in wrong.json()["error"]["message"]
    done = web.post("operator", f"/api/v1/runs/{run_id}/complete-tool",
                    json={"node_id": "ask", "output": {"answer": 42}})
    assert done.status_code == 200 and done.json()["state"] == "queued"
    assert web.sender.sent[-1] == run_id


def test_schedules(web: Web, seeded: dict[str, dict[str, str]]) -> None:
    sid = seeded["alice"]["schedule"]
    listed = web.get("viewer", "/api/v1/schedules").json()
    assert [s["id"] for s in listed["items"]] == [sid]
    fires = listed["items"][0]["next_fires"]
    assert fires[0]["local"].endswith("+01:00") and fires[0]["utc"].endswith("+00:00")
    preview = web.get("viewer", "/api/v1/schedules/preview",
                      params={"cron": "0 9 * * mon-fri", "tz": "Europe/Paris", "count": 3})
    assert preview.json()["description"] == "at 09:00, on weekdays (Europe/Paris)"
    assert preview.json()["fires"][0] == {"local": "2026-03-03T09:00:00+01:00",
                                          "utc": "2026-03-03T08:00:00+00:00"}
    bad = web.get("viewer", "/api/v1/schedules/preview", params={"cron": "61 * * * *"})
    assert bad.status_code == 422
    added = web.post("operator", "/api/v1/schedules", json={
        "graph_id": "hello", "cron": "*/5 * * * *", "timezone": "Asia/Kolkata", "name": "x"})
    assert added.status_code == 201 and added.json()["timezone"] == "Asia/Kolkata"
    invalid = web.post("operator", "/api/v1/schedules", json={
        "graph_id": "nope", "cron": "bad", "timezone": "Mars/Base", "overlap": "sometimes"})
    assert invalid.status_code == 422 and len(invalid.json()["error"]["problems"]) >= 3
    paused = web.post("operator", f"/api/v1/schedules/{sid}/pause", json={"reason": "holiday"})
    assert paused.json()["paused"] is True and paused.json()["paused_reason"] == "holiday"
    assert web.post("operator", f"/api/v1/schedules/{sid}/resume").json()["paused"] is False
    run_id = web.post("operator", f"/api/v1/schedules/{sid}/run-now").json()["run_id"]
    detail = web.get("viewer", f"/api/v1/schedules/{sid}").json()
    assert detail["fires"][0]["run_id"] == run_id and detail["fires"][0]["outcome"] == "fired"
    assert [r["id"] for r in detail["runs"]] == [run_id]
    assert web.delete("operator", f"/api/v1/schedules/{sid}").json() == \
        {"id": sid, "deleted": True}
    assert web.get("viewer", f"/api/v1/schedules/{sid}").status_code == 404


def test_runtimes_sweeps_alerts_audit(web: Web, seeded: dict[str, dict[str, str]]) -> None:
    now = web.clock()
    with web.session() as s:
        s.add(Runtime(id="rt1", hostname="h1", pid=7, queues=["fleet"], concurrency=4,
                      registered_at=now, last_seen_at=now - timedelta(seconds=20)))
        s.commit()
    rts = web.get("viewer", "/api/v1/runtimes").json()
    assert [(r["id"], r["heartbeat_age_s"], r["runs_held"]) for r in rts] == [("rt1", 20.0, 0)]
    assert web.get("viewer", "/api/v1/runtimes?status=sideways").status_code == 422
    sweeps = web.get("viewer", "/api/v1/sweeps").json()
    assert "dispatch" in [s["name"] for s in sweeps]
    ran = web.post("admin", "/api/v1/sweeps/queued_expiry/run")
    assert ran.status_code == 200 and "queued_expiry" in ran.json()["name"]
    assert web.post("admin", "/api/v1/sweeps/nope/run").status_code == 404
    assert web.get("admin", "/api/v1/alerts").json() == []
    test = web.post("admin", "/api/v1/alerts/test", json={"tag": "ops"}).json()
    assert test == {"tag": "ops", "ok": False, "detail": "no 'ops' notification URL is "
                                                          "configured"}
    log = web.get("admin", "/api/v1/audit").json()["items"]
    actions = [e["action"] for e in log]
    assert actions[:2] == ["alert.test", "sweep.run"], actions
    mine = web.get("viewer", "/api/v1/audit").json()["items"]
    assert all(e["actor"] == "alice" or e["target_user"] == "alice" for e in mine)


def test_batches(web: Web, seeded: dict[str, dict[str, str]]) -> None:
    body: dict[str, Any] = {"action": "cancel", "filter": {"state": ["queued"]}}
    preview = web.post("operator", "/api/v1/batches", json=body).json()
    assert preview["count"]["value"] == 1  # alice's own queued run only
    started = web.post("operator", "/api/v1/batches", json={**body, "dry_run": False})
    assert started.status_code == 202 and started.headers["location"].endswith(
        started.json()["id"])
    done = web.get("operator", f"/api/v1/batches/{started.json()['id']}").json()
    assert (done["state"], done["changed"], done["processed"]) == ("done", 1, 1)
    assert web.get("viewer", f"/api/v1/runs/{seeded['alice']['queued']}").json()["run"][
        "state"] == "cancelled"
    assert web.get("admin", f"/api/v1/runs/{seeded['bob']['queued']}").json()["run"][
        "state"] == "queued"
    assert [b["id"] for b in web.get("operator", "/api/v1/batches").json()] == \
        [started.json()["id"]]
    bad = web.post("operator", "/api/v1/batches", json={"action": "explode"})
    assert bad.status_code == 422 and "action" in bad.json()["error"]["problems"][0]


def test_search(web: Web) -> None:
    registry = default_registry()
    with web.session() as s:
        for user, gid, name in (("alice", "slack-notifier", "Slack notifier on failed builds"),
                                ("bob", "slack-secret", "Bob's Slack plans")):
            add_graph(s, {"id": gid, "name": name, "nodes": [
                {"id": "n", "block": "template", "inputs": {"template": "x"}}]},
                user, web.clock(), registry, settings=web.settings)
        search_coverage.run_once(s, web.clock(), JobContext(settings=web.settings),
                                 registry=registry)
    hits = web.get("viewer", "/api/v1/search", params={"q": "slack build"}).json()
    assert hits[0]["kind"] == "graph" and hits[0]["id"] == "slack-notifier"
    assert "slack-secret" not in [h["id"] for h in hits]  # bob's graph is bob's alone
    blocks = web.get("viewer", "/api/v1/search",
                     params={"q": "http request", "kind": "block"}).json()
    assert blocks and {h["kind"] for h in blocks} == {"block"}
    assert blocks[0]["id"] == "http_request"
    bad = web.get("viewer", "/api/v1/search", params={"q": "!!!"})
    assert bad.status_code == 422 and "at least one word" in bad.text
    assert web.get("viewer", "/api/v1/search",
                   params={"q": "x", "kind": "nope"}).status_code == 422
