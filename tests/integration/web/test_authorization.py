"""The authorization matrix of SPEC §12: viewer, operator and admin, each on their own and
on another user's objects, reading and acting. Every refused call changes nothing: the
whole database is compared before and after it.

Viewers read their own things; operators also act on them; admins read and act on
everyone's. Another user's graph, run or schedule answers 404 (exactly like a missing
one); a viewer's action answers 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.web.support import HELLO, PRINCIPALS, Web, dump

Call = Callable[[Web, str, dict[str, str], str], Any]


def _owner_q(owner: str) -> str:
    return f"?owner={owner}"


READS: dict[str, Call] = {
    "show run": lambda w, who, o, u: w.get(who, f"/api/v1/runs/{o['done']}"),
    "why run": lambda w, who, o, u: w.get(who, f"/api/v1/runs/{o['queued']}/why"),
    "show schedule": lambda w, who, o, u: w.get(who, f"/api/v1/schedules/{o['schedule']}"),
    "show graph": lambda w, who, o, u: w.get(who, f"/api/v1/graphs/hello{_owner_q(u)}"),
}

# In an order where each allowed action still finds what it needs.
ACTS: dict[str, Call] = {
    "cancel": lambda w, who, o, u: w.post(who, f"/api/v1/runs/{o['queued']}/cancel"),
    "approve": lambda w, who, o, u: w.post(who, f"/api/v1/runs/{o['waiting']}/approve"),
    "reject": lambda w, who, o, u: w.post(who, f"/api/v1/runs/{o['waiting2']}/reject",
                                          json={"reason": "no"}),
    "retry": lambda w, who, o, u: w.post(who, f"/api/v1/runs/{o['done']}/retry"),
    "submit": lambda w, who, o, u: w.post(who, "/api/v1/runs",
                                          json={"graph_id": "hello", "owner": u}),
    "batch": lambda w, who, o, u: w.post(who, "/api/v1/batches", json={
        "action": "retry", "filter": {"user": u, "state": ["completed"]}, "dry_run": False}),
    "pause": lambda w, who, o, u: w.post(who, f"/api/v1/schedules/{o['schedule']}/pause"),
    "resume": lambda w, who, o, u: w.post(who, f"/api/v1/schedules/{o['schedule']}/resume"),
    "run now": lambda w, who, o, u: w.post(who, f"/api/v1/schedules/{o['schedule']}/run-now"),
    "delete schedule": lambda w, who, o, u: w.delete(who, f"/api/v1/schedules/{o['schedule']}"),
    "add schedule": lambda w, who, o, u: w.post(who, "/api/v1/schedules", json={
        "graph_id": "hello", "cron": "0 * * * *", "owner": u}),
    "add graph": lambda w, who, o, u: w.post(who, f"/api/v1/graphs{_owner_q(u)}",
                                             json={**HELLO, "description": "new"}),
    "archive graph": lambda w, who, o, u: w.post(who,
                                                 f"/api/v1/graphs/hello/archive{_owner_q(u)}"),
    "delete graph": lambda w, who, o, u: w.delete(who, f"/api/v1/graphs/hello{_owner_q(u)}"),
}

# What a refused action answers, by (role, whose object): a viewer may not act at all (403);
# an operator acting on another user's object meets a 404, or a 403 where they name another
# user themselves (creating something for them).
NAMES_THE_USER = {"submit", "batch", "add schedule", "add graph"}


def refused_status(role: str, whose: str, act: str) -> int | None:
    """The status a refused call answers, or None when the call is allowed."""
    if role == "admin":
        return None
    if role == "viewer":
        return 403
    if whose == "own":
        return None
    return 403 if act in NAMES_THE_USER else 404


@pytest.mark.parametrize("whose", ["own", "other"])
@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_authorization_matrix(web: Web, seeded: dict[str, dict[str, str]], role: str,
                              whose: str) -> None:
    me = PRINCIPALS[role][0]
    user = me if whose == "own" else "bob"
    objects = seeded[user]
    for name, read in READS.items():
        before = dump(web.engine)
        r = read(web, role, objects, user)
        if whose == "other" and role != "admin":
            assert r.status_code == 404, (name, r.text)
            assert r.json()["error"]["code"] == "E-INPUT-002"
        else:
            assert r.status_code == 200, (name, r.text)
        assert dump(web.engine) == before, f"reading ({name}) changed the database"
    # Lists never show another user's objects to a non-admin, even when asked for them.
    runs = web.get(role, f"/api/v1/runs?user={user}").json()["items"]
    assert {r["user_id"] for r in runs} == ({user} if role == "admin" or whose == "own"
                                            else set())
    for name, act in ACTS.items():
        before = dump(web.engine)
        r = act(web, role, objects, user)
        expected = refused_status(role, whose, name)
        if expected is None:
            assert r.status_code in (200, 201, 202), (name, r.text)
            assert dump(web.engine) != before, f"allowed action {name} changed nothing"
        else:
            assert r.status_code == expected, (name, r.status_code, r.text)
            assert dump(web.engine) == before, f"refused action {name} changed the database"


def test_a_revoked_or_expired_token_is_refused(web: Web) -> None:
    from datetime import timedelta

    from fleet.tokens import service as tokens

    web.token("short", "dave", "admin", expires_in=timedelta(minutes=5))
    assert web.get("short", "/api/v1/me").status_code == 200
    web.clock.advance(301)
    assert web.get("short", "/api/v1/me").status_code == 401
    secret = web.token("revoked", "erin", "operator")
    with web.session() as s:
        tokens.revoke(s, secret.split("_")[1], web.clock())
    assert web.get("revoked", "/api/v1/me").status_code == 401
    # A token whose secret part is wrong is refused even with a real prefix.
    forged = secret.rsplit("_", 1)[0] + "_" + "x" * 43
    r = web.client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
