"""Submitting with an Idempotency-Key: the same key twice gives one run."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fleet.store.models import IdempotencyKey, Run
from tests.integration.web.support import HELLO, Web


def _count(web: Web, model: type) -> int:
    from sqlalchemy import func, select

    with web.session() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_same_key_twice_gives_one_run(web: Web) -> None:
    web.post("operator", "/api/v1/graphs", json=HELLO)
    body = {"graph_id": "hello", "inputs": {"who": "Ann"}}
    key = {"Idempotency-Key": "order-17"}
    first = web.post("operator", "/api/v1/runs", json=body, headers=key)
    second = web.post("operator", "/api/v1/runs", json=body, headers=key)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert _count(web, Run) == 1 and _count(web, IdempotencyKey) == 1
    assert web.sender.sent == [first.json()["id"]]  # sent once
    # The key is per user: an admin submitting for bob with the same key gets a new run.
    web.post("admin", "/api/v1/graphs?owner=bob", json=HELLO)
    bobs = web.post("admin", "/api/v1/runs", json={**body, "owner": "bob"}, headers=key)
    assert bobs.status_code == 201 and bobs.json()["id"] != first.json()["id"]
    # Without a key, every submission is a new run.
    assert web.post("operator", "/api/v1/runs", json=body).json()["id"] != first.json()["id"]
    audit = web.get("admin", "/api/v1/audit?action=run.submit").json()["items"]
    assert len(audit) == 3  # the replay is not a second submission


def test_a_key_reused_for_another_request_is_a_conflict(web: Web) -> None:
    web.post("operator", "/api/v1/graphs", json=HELLO)
    key = {"Idempotency-Key": "k1"}
    web.post("operator", "/api/v1/runs", json={"graph_id": "hello"}, headers=key)
    other = web.post("operator", "/api/v1/runs", json={"graph_id": "hello",
                                                       "inputs": {"who": "x"}}, headers=key)
    assert other.status_code == 409 and other.json()["error"]["code"] == "E-INPUT-005"
    assert _count(web, Run) == 1
    bad = web.post("operator", "/api/v1/runs", json={"graph_id": "hello"},
                   headers={"Idempotency-Key": "has space"})
    assert bad.status_code == 422 and "Idempotency-Key" in bad.json()["error"]["problems"][0]


def test_concurrent_submissions_with_one_key_make_one_run(web: Web) -> None:
    web.post("operator", "/api/v1/graphs", json=HELLO)

    def go(_: int) -> str:
        r = web.post("operator", "/api/v1/runs", json={"graph_id": "hello"},
                     headers={"Idempotency-Key": "race"})
        assert r.status_code in (200, 201), r.text
        return str(r.json()["id"])

    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(go, range(8)))
    assert len(ids) == 1 and _count(web, Run) == 1
