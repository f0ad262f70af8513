"""The dashboard through HTTP: sign-in with a token into a signed cookie, CSRF on every
form, roles, the run page's drawings and panel, filters in the URL, batch with preview."""

from __future__ import annotations

import re
from datetime import timedelta

from fleet.tokens import service as tokens
from tests.integration.web.support import Web, dump

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in(web: Web, who: str) -> str:
    """Sign ``who`` in on the test client; the CSRF token of the session."""
    r = web.client.post("/login", data={"token": web.tokens[who], "next": "/runs"},
                        follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/runs"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    page = web.client.get("/runs")
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def test_pages_need_a_session(web: Web) -> None:
    r = web.client.get("/runs?state=queued", follow_redirects=False)
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fruns%3Fstate%3Dqueued"
    wrong = web.client.post("/login", data={"token": "fleet_abc_def", "next": "/"})
    assert wrong.status_code == 401 and "unknown, revoked or expired" in wrong.text
    web.client.cookies.set("fleet_session", "forged.cookie.value")
    assert web.client.get("/", follow_redirects=False).status_code == 303


def test_sign_in_every_page_and_sign_out(web: Web, seeded: dict[str, dict[str, str]]) -> None:
    csrf = sign_in(web, "admin")
    alice = seeded["alice"]
    for url in ("/", "/runs", f"/runs/{alice['done']}", f"/runs/{alice['queued']}",
                "/schedules", f"/schedules/{alice['schedule']}", "/runtimes", "/alerts",
                "/sweeps", "/audit", "/batch?action=cancel&state=queued"):
        r = web.client.get(url)
        assert r.status_code == 200, (url, r.text[:500])
        # Pages that change refresh themselves (a finished run and a preview do not).
        live = not url.startswith("/batch") and alice["done"] not in url
        assert ("data-live" in r.text) == live, url
    # Signing out needs the CSRF token too.
    assert web.client.post("/logout", data={"csrf": "nope"}).status_code == 403
    out = web.client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and 'fleet_session=""' in out.headers["set-cookie"]
    web.client.cookies.clear()
    assert web.client.get("/", follow_redirects=False).status_code == 303


def test_every_form_carries_the_session_csrf(web: Web,
                                             seeded: dict[str, dict[str, str]]) -> None:
    csrf = sign_in(web, "admin")
    alice = seeded["alice"]
    forms = 0
    for url in ("/runs", f"/runs/{alice['done']}", f"/runs/{alice['queued']}",
                f"/runs/{alice['waiting']}", "/schedules", f"/schedules/{alice['schedule']}",
                "/alerts", "/sweeps", "/batch?action=cancel&state=queued"):
        html = web.client.get(url).text
        for form in re.findall(r'<form method="post".*?</form>', html, flags=re.S):
            forms += 1
            assert f'name="csrf" value="{csrf}"' in form, (url, form)
    assert forms > 15


def test_a_revoked_token_ends_its_sessions(web: Web) -> None:
    sign_in(web, "operator")
    assert web.client.get("/").status_code == 200
    with web.session() as s:
        tokens.revoke(s, web.tokens["operator"].split("_")[1], web.clock())
    assert web.client.get("/", follow_redirects=False).status_code == 303


def test_forms_need_the_csrf_token(web: Web, seeded: dict[str, dict[str, str]]) -> None:
    csrf = sign_in(web, "operator")
    run = seeded["alice"]["queued"]
    before = dump(web.engine)
    for bad in ({}, {"csrf": "x" * len(csrf)}):
        r = web.client.post(f"/runs/{run}/cancel", data=bad)
        assert r.status_code == 403 and "CSRF" in r.text
    assert dump(web.engine) == before
    r = web.client.post(f"/runs/{run}/cancel", data={"csrf": csrf})
    assert r.status_code == 200 and "cancelled" in r.text
    audit = web.get("admin", "/api/v1/audit?action=run.cancel").json()["items"]
    assert [(e["target_id"], e["via"]) for e in audit] == [(run, "dashboard")]


def test_retry_with_edited_inputs_from_the_run_page(web: Web,
                                                    seeded: dict[str, dict[str, str]]) -> None:
    csrf = sign_in(web, "operator")
    done = seeded["alice"]["done"]
    assert "Retry with edited inputs" in web.client.get(f"/runs/{done}").text
    bad = web.client.post(f"/runs/{done}/retry", data={"csrf": csrf, "inputs": "[1]"})
    assert bad.status_code == 422 and "inputs" in bad.text
    r = web.client.post(f"/runs/{done}/retry", data={"csrf": csrf,
                                                     "inputs": '{"who": "Ada"}'})
    assert r.status_code == 200 and f"retry of {done} submitted" in r.text
    new = web.get("operator", f"/api/v1/runs/{done}").json()["retries"]
    assert len(new) == 1
    assert web.get("operator", f"/api/v1/runs/{new[0]}").json()["run"]["inputs"] == \
        {"who": "Ada"}


def test_viewers_see_no_actions_and_cannot_post(web: Web,
                                                seeded: dict[str, dict[str, str]]) -> None:
    csrf = sign_in(web, "viewer")
    run = seeded["alice"]["queued"]
    page = web.client.get(f"/runs/{run}")
    assert "Cancel run" not in page.text and "Cancel all matching" not in \
        web.client.get("/runs").text
    before = dump(web.engine)
    r = web.client.post(f"/runs/{run}/cancel", data={"csrf": csrf})
    assert r.status_code == 403 and dump(web.engine) == before
    # Another user's run is not found, like a missing one.
    assert web.client.get(f"/runs/{seeded['bob']['queued']}").status_code == 404


def test_run_page_draws_the_graph_and_the_timeline(web: Web,
                                                   seeded: dict[str, dict[str, str]]) -> None:
    sign_in(web, "operator")
    done = web.client.get(f"/runs/{seeded['alice']['done']}").text
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="dag"' in done
    assert 'data-node="greet" data-state="completed"' in done
    assert 'class="gantt"' in done and 'class="bar" data-node="greet"' in done
    assert "critical path greet" in done
    assert "Retry as a new run" in done
    waiting = web.client.get(f"/runs/{seeded['alice']['waiting']}").text
    assert "waiting for approval since" in waiting and "Approve" in waiting
    assert 'data-node="review" data-state="waiting_approval"' in waiting
    queued = web.client.get(f"/runs/{seeded['alice']['queued']}").text
    assert "no worker is online" in queued


def test_a_graph_too_big_to_draw_is_a_list(db_url: str, now: object) -> None:
    from datetime import datetime

    from tests.integration.web.support import make_web, seed_user

    assert isinstance(now, datetime)
    w = make_web(db_url, now, web_dag_max_nodes=2)
    try:
        ids = seed_user(w, "alice")
        sign_in(w, "operator")
        page = w.client.get(f"/runs/{ids['waiting']}").text  # approval-demo: 3 nodes
        assert 'class="dag"' not in page
        assert "3 nodes: too many to draw readably" in page and "<td>review</td>" in page
    finally:
        w.client.close()
        w.engine.dispose()


def test_runs_page_filters_live_in_the_url(web: Web, seeded: dict[str, dict[str, str]]) -> None:
    sign_in(web, "admin")
    page = web.client.get("/runs?state=queued&user=alice").text
    assert seeded["alice"]["queued"][:12] in page
    assert seeded["bob"]["queued"][:12] not in page and seeded["alice"]["done"][:12] not in page
    assert '<b id="run-count">1</b>' in page
    assert "/batch?state=queued&amp;user=alice&amp;action=cancel" in page
    bad = web.client.get("/runs?state=bogus")
    assert bad.status_code == 422 and "state: &#39;bogus&#39; is unknown" in bad.text


def test_batch_cancel_with_its_count_preview(web: Web,
                                             seeded: dict[str, dict[str, str]]) -> None:
    csrf = sign_in(web, "operator")
    preview = web.client.get("/batch?action=cancel&graph=approval-demo")
    assert "This would cancel <b>2</b> runs" in preview.text  # alice's two waiting runs
    form = re.search(r'name="filter_json" value="([^"]+)"', preview.text)
    assert form
    filter_json = form.group(1).replace("&#34;", '"')
    done = web.client.post("/batch", data={"csrf": csrf, "action": "cancel",
                                           "filter_json": filter_json})
    assert done.status_code == 200 and '<p class="big" id="batch-state">done</p>' in done.text
    assert '<dd id="batch-changed">2</dd>' in done.text
    states = {r["state"] for r in web.get("operator", "/api/v1/runs?graph=approval-demo")
              .json()["items"]}
    assert states == {"cancelled"}


def test_schedule_pause_and_resume_through_forms(web: Web,
                                                 seeded: dict[str, dict[str, str]]) -> None:
    csrf = sign_in(web, "operator")
    sid = seeded["alice"]["schedule"]
    paused = web.client.post(f"/schedules/{sid}/pause", data={"csrf": csrf,
                                                              "next": "/schedules"})
    assert paused.status_code == 200 and "schedule paused" in paused.text
    assert web.get("viewer", f"/api/v1/schedules/{sid}").json()["schedule"]["paused"] is True
    web.clock.advance(3600)
    resumed = web.client.post(f"/schedules/{sid}/resume", data={"csrf": csrf})
    assert resumed.status_code == 200 and "schedule resumed" in resumed.text
    assert web.get("viewer", f"/api/v1/schedules/{sid}").json()["schedule"]["paused"] is False


def test_read_only_dashboard_refuses_forms(db_url: str, now: object) -> None:
    from datetime import datetime

    from tests.integration.web.support import make_web, seed_user

    assert isinstance(now, datetime)
    w = make_web(db_url, now, web_read_only=True)
    try:
        ids = seed_user(w, "carol")
        csrf = sign_in(w, "admin")
        assert "read-only" in w.client.get("/").text
        assert "Cancel run" not in w.client.get(f"/runs/{ids['queued']}").text
        before = dump(w.engine)
        r = w.client.post(f"/runs/{ids['queued']}/cancel", data={"csrf": csrf})
        assert r.status_code == 403 and "read-only" in r.text and dump(w.engine) == before
    finally:
        w.client.close()
        w.engine.dispose()


def test_session_lasts_no_longer_than_its_token(web: Web) -> None:
    web.token("brief", "zoe", "viewer", expires_in=timedelta(minutes=10))
    r = web.client.post("/login", data={"token": web.tokens["brief"], "next": "/"},
                        follow_redirects=False)
    assert "Max-Age=600" in r.headers["set-cookie"]
