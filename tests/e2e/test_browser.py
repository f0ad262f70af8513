"""The dashboard end to end in a real browser: Playwright driving Debian's chromium
(headless, no browser download) against a real `fleet web` process on 127.0.0.1 with a
real database. Screenshots are saved (to the test's directory; with
FLEET_UPDATE_SCREENSHOTS=1 also to docs/images/, which the README shows).

Without a browser the test is skipped locally and fails under CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from fleet.clock import utcnow
from fleet.engine.blocks.registry import default_registry
from fleet.graphs.service import add_graph
from fleet.runs.inline import run_inline
from fleet.runs.submit import submit
from fleet.scheduling import service as schedules
from fleet.settings import Settings
from fleet.store import migrate
from fleet.store.db import make_engine
from fleet.testing import RecordingSender
from fleet.testing.graphs import delay_chain
from fleet.testing.servers import free_port
from fleet.tokens import service as tokens
from tests.conftest import _unavailable

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("FLEET_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
HELLO = {"id": "hello", "name": "Hello", "inputs": {"who": {"type": "string",
                                                          "default": "world",
                                                          "targets": ["greet.value"]}},
         "nodes": [{"id": "greet", "block": "template", "inputs": {"template": "Hi {value}"}}]}


@dataclass
class Fleet:
    """A `fleet web` process and what the test seeded."""

    url: str
    operator: str
    done: str
    queued: str
    schedule: str
    batch_graph: str


def _seed(db_url: str) -> dict[str, str]:
    settings = Settings(database_url=db_url, _env_file=None)  # type: ignore[call-arg]
    engine = make_engine(db_url)
    registry, now = default_registry(), utcnow()
    sent = RecordingSender()
    found: dict[str, str] = {}

    def open_session() -> Session:
        return Session(engine, expire_on_commit=False)

    with open_session() as s:
        add_graph(s, HELLO, "ann", now, registry, settings=settings)
        add_graph(s, delay_chain("pipeline", [0.05, 0.1, 0.05, 0.02]), "ann", now, registry,
                  settings=settings)
        found["schedule"] = schedules.add(
            s, now, settings=settings, registry=registry, user_id="ann", graph_id="hello",
            cron_expr="30 7 * * mon-fri", timezone="America/New_York", name="morning").id
        found["done"] = submit(s, graph_id="pipeline", version=None, inputs={}, user_id="ann",
                               now=now, send=sent, registry=registry, settings=settings).id
        found["queued"] = submit(s, graph_id="hello", version=None, inputs={"who": "Bo"},
                                 user_id="ann", now=now, send=sent, registry=registry,
                                 settings=settings).id
        add_graph(s, {**HELLO, "id": "nightly"}, "ann", now, registry, settings=settings)
        for _ in range(5):
            submit(s, graph_id="nightly", version=None, inputs={}, user_id="ann", now=now,
                   send=sent, registry=registry, settings=settings)
        found["operator"] = tokens.create(s, user_id="ann", role="operator", now=now,
                                          expires_in=timedelta(hours=1)).secret
    run_inline(open_session, found["done"], registry=registry, settings=settings)
    engine.dispose()
    return found


@pytest.fixture
def fleet_web(tmp_path: Path) -> Iterator[Fleet]:
    db_url = f"sqlite:///{tmp_path / 'fleet.sqlite'}"
    migrate.upgrade(db_url)
    seeded = _seed(db_url)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update(PYTHONPATH=str(ROOT), FLEET_DATABASE_URL=db_url,
               FLEET_WEB_SESSION_SECRET="e2e-secret", FLEET_WEB_SNAPSHOT_TTL_S="1")
    log = open(tmp_path / "web.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-c", "from fleet.cli.main import main; main()", "web", "--host",
         "127.0.0.1", "--port", str(port)], cwd=tmp_path, env=env, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "web.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("fleet web did not answer /healthz within 30 s")
        yield Fleet(url, seeded["operator"], seeded["done"], seeded["queued"],
                    seeded["schedule"], "nightly")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        _unavailable(f"no browser at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _shot(page: Any, name: str, tmp_path: Path) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    if os.environ.get("FLEET_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(tmp_path / name, ROOT / "docs" / "images" / name)


@pytest.mark.slow
def test_dashboard_in_a_real_browser(fleet_web: Fleet, browser: Any, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)

    # A wrong token is refused, and the pages stay closed.
    page.goto(f"{fleet_web.url}/runs")
    assert "/login" in page.url
    page.fill("#token", "fleet_0000_not-a-token")
    page.click("#sign-in")
    page.wait_for_selector("p.error")
    assert "unknown, revoked or expired" in page.inner_text("p.error")
    assert "/login" in page.url

    # Sign in: back to where we were going.
    page.fill("#token", fleet_web.operator)
    page.click("#sign-in")
    page.wait_for_url(f"{fleet_web.url}/runs")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["fleet_session"]["httpOnly"] and cookies["fleet_session"]["sameSite"] == "Lax"

    # The overview, refreshing itself while visible and not while hidden.
    page.goto(f"{fleet_web.url}/")
    page.wait_for_selector("#queue-depth")
    assert page.inner_text("#queue-depth") == "6"
    assert page.evaluate("window.fleetPolling()") is True
    page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    assert page.evaluate("window.fleetPolling()") is False
    page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    assert page.evaluate("window.fleetPolling()") is True
    _shot(page, "overview.png", tmp_path)

    # A completed run: its graph and the timeline of its node executions.
    page.goto(f"{fleet_web.url}/runs/{fleet_web.done}")
    page.wait_for_selector("#timeline svg.gantt")
    bars = page.locator("#timeline g.bar")
    assert bars.count() == 5
    assert page.locator("#dag g.node[data-state='completed']").count() == 5
    assert "it finished: completed" in page.inner_text("#why")
    _shot(page, "run-timeline.png", tmp_path)

    # Cancel a queued run.
    page.goto(f"{fleet_web.url}/runs/{fleet_web.queued}")
    assert "no worker is online" in page.inner_text("#why")
    page.click("button:has-text('Cancel run')")
    page.wait_for_selector("p.notice")
    assert "cancelled" in page.inner_text("p.notice")
    assert page.locator("span.state.s-cancelled").first.is_visible()

    # Pause and resume a schedule.
    page.goto(f"{fleet_web.url}/schedules")
    row = page.locator(f"tr[data-schedule='{fleet_web.schedule}']")
    assert "EST" in row.inner_text() or "EDT" in row.inner_text()
    row.locator("button:has-text('Pause')").click()
    page.wait_for_selector("p.notice")
    row = page.locator(f"tr[data-schedule='{fleet_web.schedule}']")
    assert "paused" in row.locator("td.status").inner_text()
    row.locator("button:has-text('Resume')").click()
    page.wait_for_selector("p.notice:has-text('resumed')")
    assert "active" in page.locator(
        f"tr[data-schedule='{fleet_web.schedule}'] td.status").inner_text()

    # A batch cancel of every queued run of one graph, with its count preview first.
    page.goto(f"{fleet_web.url}/runs?state=queued&graph={fleet_web.batch_graph}")
    assert page.inner_text("#run-count") == "5"
    page.click("#batch-cancel")
    page.wait_for_selector("#batch-count")
    assert "This would cancel 5 runs" in page.inner_text("#batch-count")
    _shot(page, "batch-preview.png", tmp_path)
    page.click("#batch-confirm")
    page.wait_for_selector("#batch-state:has-text('done')")
    assert page.inner_text("#batch-changed") == "5"
    page.goto(f"{fleet_web.url}/runs?state=queued&graph={fleet_web.batch_graph}")
    assert page.inner_text("#run-count") == "0"

    # Sign out: the pages are closed again.
    page.click("#sign-out")
    page.wait_for_url(f"{fleet_web.url}/login")
    page.goto(f"{fleet_web.url}/runs")
    assert "/login" in page.url
    assert [c for c in page.context.cookies() if c["name"] == "fleet_session"] == []
    assert (tmp_path / "overview.png").stat().st_size > 10_000


def test_the_browser_is_found_where_the_test_expects_it() -> None:
    # setup.sh installs Debian's chromium; a missing one must not go unnoticed in CI.
    if not Path(CHROMIUM).exists():
        _unavailable(f"no browser at {CHROMIUM}")
    out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30)
    assert "Chromium" in out.stdout, out.stdout + out.stderr
    assert datetime.now(UTC).year >= 2024
