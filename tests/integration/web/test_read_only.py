"""FLEET_WEB_READ_ONLY=true: every action is refused (even an admin's) and changes
nothing; reads, health and metrics still answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.integration.web.support import Web, dump, make_web, seed_user
from tests.integration.web.test_api import ROUTES
from tests.integration.web.test_authorization import ACTS

V = "/api/v1"
COVERED = {
    ("POST", f"{V}/runs/{{run_id}}/cancel"), ("POST", f"{V}/runs/{{run_id}}/approve"),
    ("POST", f"{V}/runs/{{run_id}}/reject"), ("POST", f"{V}/runs/{{run_id}}/retry"),
    ("POST", f"{V}/runs"), ("POST", f"{V}/batches"),
    ("POST", f"{V}/schedules/{{schedule_id}}/pause"),
    ("POST", f"{V}/schedules/{{schedule_id}}/resume"),
    ("POST", f"{V}/schedules/{{schedule_id}}/run-now"),
    ("DELETE", f"{V}/schedules/{{schedule_id}}"), ("POST", f"{V}/schedules"),
    ("POST", f"{V}/graphs"), ("POST", f"{V}/graphs/{{graph_id}}/archive"),
    ("DELETE", f"{V}/graphs/{{graph_id}}"), ("POST", f"{V}/runs/{{run_id}}/complete-tool"),
    ("POST", f"{V}/sweeps/{{name}}/run"), ("POST", f"{V}/alerts/test"),
}


@pytest.fixture
def ro(db_url: str, now: datetime) -> Iterator[Web]:
    w = make_web(db_url, now, web_read_only=True)
    yield w
    w.client.close()
    w.engine.dispose()


def test_read_only_refuses_every_action(ro: Web) -> None:
    objects = seed_user(ro, "carol")
    for name, act in ACTS.items():
        before = dump(ro.engine)
        r = act(ro, "admin", objects, "carol")
        assert r.status_code == 403, (name, r.text)
        assert r.json()["error"]["code"] == "E-AUTH-002"
        assert dump(ro.engine) == before, name
    # Every other acting route too: tools, sweeps, alerts, complete-tool.
    for url, body in ((f"/api/v1/runs/{objects['waiting']}/complete-tool",
                       {"node_id": "x", "output": 1}),
                      ("/api/v1/sweeps/reaper/run", None), ("/api/v1/alerts/test", {})):
        before = dump(ro.engine)
        r = ro.post("admin", url, json=body)
        assert r.status_code == 403, (url, r.text)
        assert dump(ro.engine) == before
    # The calls above cover every route that acts (validate only reads).
    acting = {(m, p) for m, p in ROUTES if m in ("POST", "DELETE")}
    assert acting - {("POST", "/api/v1/graphs/validate")} == COVERED
    # Reads still work, and so do the two POSTs that only read.
    assert ro.get("viewer", "/api/v1/runs").status_code == 200
    assert ro.get("admin", "/api/v1/me").json()["read_only"] is True
    assert ro.post("viewer", "/api/v1/graphs/validate", json={"id": "x"}).status_code == 200
    dry = ro.post("admin", "/api/v1/batches", json={"action": "cancel"})
    assert dry.status_code == 200 and dry.json()["count"]["value"] == 3  # queued + 2 waiting
    assert ro.client.get("/healthz").status_code == 200
    assert ro.client.get("/metrics").status_code == 200
